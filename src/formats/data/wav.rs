//! WAV audio as mono float samples, optionally resampled.

use super::data_err;
use crate::error::Result;
use crate::tensor::Tensor;

/// WAV (PCM 8/16/24/32-bit or float) as mono float samples in [-1, 1],
/// channels averaged, linearly resampled to `rate` when given. Returns
/// `[1, samples]` and the file's own rate.
pub fn read_wav(bytes: &[u8], rate: Option<u32>) -> Result<(Tensor, u32)> {
    let mut r = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| data_err("WAV", e.to_string()))?;
    let spec = r.spec();
    let ch = spec.channels.max(1) as usize;
    let raw: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().collect::<std::result::Result<_, _>>(),
        hound::SampleFormat::Int => {
            let full = (1i64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            r.samples::<i32>().map(|s| s.map(|v| v as f32 / full)).collect()
        }
    }
    .map_err(|e| data_err("WAV", e.to_string()))?;
    let mono: Vec<f32> = raw.chunks(ch).map(|c| c.iter().sum::<f32>() / ch as f32).collect();
    let out = match rate {
        Some(to) if to != spec.sample_rate && to > 0 => resample_linear(&mono, spec.sample_rate, to),
        _ => mono,
    };
    let n = out.len();
    Ok((Tensor::from_vec(&[1, n], out)?, spec.sample_rate))
}

pub fn resample_linear(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    if x.is_empty() {
        return Vec::new();
    }
    let n = ((x.len() as u64 * to as u64) / from as u64).max(1) as usize;
    let step = from as f64 / to as f64;
    (0..n)
        .map(|i| {
            let p = i as f64 * step;
            let j = (p as usize).min(x.len() - 1);
            let f = (p - j as f64) as f32;
            let next = x[(j + 1).min(x.len() - 1)];
            x[j] * (1.0 - f) + next * f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resample_by_hand() {
        // 4 samples at 8 kHz → 2 at 4 kHz: positions 0 and 2.
        assert_eq!(resample_linear(&[0.0, 1.0, 2.0, 3.0], 8000, 4000), vec![0.0, 2.0]);
        // Upsampling interpolates: positions 0, 0.5, 1, 1.5.
        assert_eq!(resample_linear(&[0.0, 1.0], 1, 2), vec![0.0, 0.5, 1.0, 1.0]);
    }
}
