//! Sub-byte and 8-bit float formats: float8 (E4M3FN, E4M3FNUZ, E5M2,
//! E5M2FNUZ, E8M0), float4 (E2M1), int4/uint4, int2/uint2. In memory each
//! element is one byte holding its bit pattern; `onnx::tensor_io` packs the
//! 4- and 2-bit types two or four to a byte on disk.

/// The small types, by their ONNX meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmallType {
    F8E4M3FN,
    F8E4M3FNUZ,
    F8E5M2,
    F8E5M2FNUZ,
    F8E8M0,
    F4E2M1,
    I4,
    U4,
    I2,
    U2,
}

/// A float format with `e` exponent and `m` mantissa bits.
struct FloatFormat {
    exp_bits: u32,
    man_bits: u32,
    bias: i32,
    /// "FNUZ": no negative zero, NaN is 0x80.
    uz: bool,
    /// E5M2 keeps IEEE infinities; the others have none.
    has_inf: bool,
    /// Largest finite value.
    max: f64,
}

const E4M3FN: FloatFormat = FloatFormat { exp_bits: 4, man_bits: 3, bias: 7, uz: false, has_inf: false, max: 448.0 };
const E4M3FNUZ: FloatFormat = FloatFormat { exp_bits: 4, man_bits: 3, bias: 8, uz: true, has_inf: false, max: 240.0 };
const E5M2: FloatFormat = FloatFormat { exp_bits: 5, man_bits: 2, bias: 15, uz: false, has_inf: true, max: 57344.0 };
const E5M2FNUZ: FloatFormat = FloatFormat { exp_bits: 5, man_bits: 2, bias: 16, uz: true, has_inf: false, max: 57344.0 };
const E2M1: FloatFormat = FloatFormat { exp_bits: 2, man_bits: 1, bias: 1, uz: false, has_inf: false, max: 6.0 };

impl SmallType {
    pub const ALL: [SmallType; 10] = [
        SmallType::F8E4M3FN,
        SmallType::F8E4M3FNUZ,
        SmallType::F8E5M2,
        SmallType::F8E5M2FNUZ,
        SmallType::F8E8M0,
        SmallType::F4E2M1,
        SmallType::I4,
        SmallType::U4,
        SmallType::I2,
        SmallType::U2,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SmallType::F8E4M3FN => "float8e4m3fn",
            SmallType::F8E4M3FNUZ => "float8e4m3fnuz",
            SmallType::F8E5M2 => "float8e5m2",
            SmallType::F8E5M2FNUZ => "float8e5m2fnuz",
            SmallType::F8E8M0 => "float8e8m0",
            SmallType::F4E2M1 => "float4e2m1",
            SmallType::I4 => "int4",
            SmallType::U4 => "uint4",
            SmallType::I2 => "int2",
            SmallType::U2 => "uint2",
        }
    }

    /// Bits per element on disk (8, 4 or 2).
    pub fn bits(self) -> u32 {
        match self {
            SmallType::F4E2M1 | SmallType::I4 | SmallType::U4 => 4,
            SmallType::I2 | SmallType::U2 => 2,
            _ => 8,
        }
    }

    pub fn is_float(self) -> bool {
        !matches!(self, SmallType::I4 | SmallType::U4 | SmallType::I2 | SmallType::U2)
    }

    /// Integer range for the integer types.
    pub fn int_range(self) -> Option<(i64, i64)> {
        match self {
            SmallType::I4 => Some((-8, 7)),
            SmallType::U4 => Some((0, 15)),
            SmallType::I2 => Some((-2, 1)),
            SmallType::U2 => Some((0, 3)),
            _ => None,
        }
    }

    fn float_format(self) -> Option<&'static FloatFormat> {
        match self {
            SmallType::F8E4M3FN => Some(&E4M3FN),
            SmallType::F8E4M3FNUZ => Some(&E4M3FNUZ),
            SmallType::F8E5M2 => Some(&E5M2),
            SmallType::F8E5M2FNUZ => Some(&E5M2FNUZ),
            SmallType::F4E2M1 => Some(&E2M1),
            _ => None,
        }
    }

    /// The value a bit pattern stands for.
    pub fn decode(self, bits: u8) -> f64 {
        if let Some((lo, _)) = self.int_range() {
            let width = self.bits();
            let v = (bits as i64) & ((1 << width) - 1);
            return if lo < 0 && v >= 1 << (width - 1) { (v - (1 << width)) as f64 } else { v as f64 };
        }
        if self == SmallType::F8E8M0 {
            return if bits == 0xFF { f64::NAN } else { 2f64.powi(bits as i32 - 127) };
        }
        let f = self.float_format().expect("float types have a format");
        let total = 1 + f.exp_bits + f.man_bits;
        let bits = (bits as u32) & ((1 << total) - 1);
        let sign_bit = 1 << (total - 1);
        if f.uz && bits == sign_bit {
            return f64::NAN;
        }
        let e = (bits >> f.man_bits) & ((1 << f.exp_bits) - 1);
        let m = bits & ((1 << f.man_bits) - 1);
        let all_ones_exp = (1 << f.exp_bits) - 1;
        if f.has_inf && e == all_ones_exp {
            let v = if m == 0 { f64::INFINITY } else { f64::NAN };
            return if bits & sign_bit != 0 { -v } else { v };
        }
        if !f.uz && !f.has_inf && f.exp_bits == 4 && e == all_ones_exp && m == (1 << f.man_bits) - 1 {
            return f64::NAN; // E4M3FN: S.1111.111
        }
        let mag = if e == 0 {
            m as f64 * 2f64.powi(1 - f.bias - f.man_bits as i32)
        } else {
            (1.0 + m as f64 / (1 << f.man_bits) as f64) * 2f64.powi(e as i32 - f.bias)
        };
        if bits & sign_bit != 0 {
            -mag
        } else {
            mag
        }
    }

    /// The bit pattern nearest to `x` (round half to even). `saturate`
    /// clamps out-of-range values to the largest finite one; otherwise they
    /// become NaN (or ±inf for E5M2). Integer types truncate toward zero and
    /// wrap, as a C cast does (the rounding and clamping of QuantizeLinear
    /// happen before it calls this).
    pub fn encode(self, x: f64, saturate: bool) -> u8 {
        if let Some((lo, _)) = self.int_range() {
            let width = self.bits();
            let _ = lo;
            let v = if x.is_finite() { x.trunc() as i64 } else { 0 };
            return (v & ((1 << width) - 1)) as u8;
        }
        if self == SmallType::F8E8M0 {
            return encode_e8m0(x as f32, saturate);
        }
        let f = self.float_format().expect("float types have a format");
        let total = 1 + f.exp_bits + f.man_bits;
        let sign_bit: u32 = 1 << (total - 1);
        let nan: u32 = if f.uz {
            sign_bit
        } else if f.has_inf {
            (((1 << f.exp_bits) - 1) << f.man_bits) | (1 << (f.man_bits - 1))
        } else if self == SmallType::F4E2M1 {
            sign_bit // float4 has no NaN; ml_dtypes maps NaN to -0
        } else {
            sign_bit - 1
        };
        let negative = x.is_sign_negative();
        let sign = if negative && !(f.uz && x == 0.0) { sign_bit } else { 0 };
        if x.is_nan() {
            return (if f.uz || self == SmallType::F4E2M1 { nan } else { nan | (sign & sign_bit) }) as u8;
        }
        let a = x.abs();
        let overflow = |sign: u32| -> u8 {
            if saturate || self == SmallType::F4E2M1 {
                (sign | max_pattern(f)) as u8
            } else if f.has_inf {
                (sign | (((1 << f.exp_bits) - 1) << f.man_bits)) as u8
            } else if f.uz {
                nan as u8
            } else {
                (sign | nan) as u8
            }
        };
        if a.is_infinite() {
            return overflow(sign);
        }
        if a == 0.0 {
            return sign as u8;
        }
        let e_min = 1 - f.bias;
        let e = (a.log2().floor() as i32).max(e_min);
        let quantum = 2f64.powi(e - f.man_bits as i32);
        let r = (a / quantum).round_ties_even() * quantum;
        if r > f.max {
            return overflow(sign);
        }
        if r == 0.0 {
            // FNUZ formats have no negative zero (0x80 is their NaN).
            return if f.uz { 0 } else { sign as u8 };
        }
        let pattern = if r < 2f64.powi(e_min) {
            (r / 2f64.powi(e_min - f.man_bits as i32)) as u32
        } else {
            let re = r.log2().floor() as i32;
            let m = (r / 2f64.powi(re - f.man_bits as i32)) as u32 - (1 << f.man_bits);
            (((re + f.bias) as u32) << f.man_bits) | m
        };
        (sign | pattern) as u8
    }
}

fn max_pattern(f: &FloatFormat) -> u32 {
    // The largest finite value's exponent and mantissa fields.
    let e = (f.max.log2().floor() as i32 + f.bias) as u32;
    let m = (f.max / 2f64.powi(e as i32 - f.bias) * (1 << f.man_bits) as f64) as u32 - (1 << f.man_bits);
    (e << f.man_bits) | m
}

/// E8M0 (exponent only) with ONNX Cast's default "round up" mode.
fn encode_e8m0(x: f32, saturate: bool) -> u8 {
    let bits = x.to_bits();
    let exponent = (bits >> 23) & 0xFF;
    if exponent == 0xFF {
        return 0xFF;
    }
    let has_fraction = bits & 0x7F_FFFF != 0;
    let mut e = exponent;
    if has_fraction && !(saturate && exponent == 0xFE) {
        e += 1;
    }
    e.min(0xFF) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn float8_round_trips_every_pattern() {
        for t in [SmallType::F8E4M3FN, SmallType::F8E4M3FNUZ, SmallType::F8E5M2, SmallType::F8E5M2FNUZ] {
            for b in 0..=255u8 {
                let v = t.decode(b);
                if v.is_nan() {
                    assert!(t.decode(t.encode(v, false)).is_nan());
                    continue;
                }
                assert_eq!(t.encode(v, false), b, "{t:?} pattern {b:#x} ({v})");
            }
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn float8_rounding_and_overflow_match_the_spec() {
        let t = SmallType::F8E4M3FN;
        assert_eq!(t.decode(t.encode(0.4, false)), 0.40625);
        assert_eq!(t.decode(t.encode(464.0, false)), 448.0); // tie to even
        assert!(t.decode(t.encode(500.0, false)).is_nan());
        assert_eq!(t.decode(t.encode(500.0, true)), 448.0);
        assert_eq!(t.decode(t.encode(f64::INFINITY, true)), 448.0);
        assert_eq!(SmallType::F8E5M2.decode(SmallType::F8E5M2.encode(1e9, false)), f64::INFINITY);
        assert!(SmallType::F8E4M3FNUZ.decode(SmallType::F8E4M3FNUZ.encode(448.0, false)).is_nan());
        assert_eq!(SmallType::F8E4M3FNUZ.encode(-0.0, false), 0);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn small_ints_truncate_and_wrap_like_a_cast() {
        let enc = |t: SmallType, x: f64| t.decode(t.encode(x, false));
        assert_eq!(enc(SmallType::I4, 7.6), 7.0);
        assert_eq!(enc(SmallType::I4, 8.0), -8.0);
        assert_eq!(enc(SmallType::U4, -1.7), 15.0);
        assert_eq!(enc(SmallType::I2, 2.5), -2.0);
        assert_eq!(enc(SmallType::U2, 100.0), 0.0);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn float4_saturates_and_e8m0_rounds_up() {
        let t = SmallType::F4E2M1;
        assert_eq!(t.decode(t.encode(2.5, false)), 2.0);
        assert_eq!(t.decode(t.encode(100.0, false)), 6.0);
        assert_eq!(t.decode(t.encode(-0.25, false)), -0.0);
        assert_eq!(SmallType::F8E8M0.decode(SmallType::F8E8M0.encode(0.4, true)), 0.5);
        assert_eq!(SmallType::F8E8M0.decode(SmallType::F8E8M0.encode(8.0, true)), 8.0);
    }
}
