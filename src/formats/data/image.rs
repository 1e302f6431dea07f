//! Decoded images (RGBA pixels, as canvases give them; the page decodes
//! PNG/JPEG) → float tensors: resize, channel order, normalisation.

use serde::{Deserialize, Serialize};

use super::data_err;
use crate::error::{Result, SquishError};
use crate::tensor::Tensor;

/// How a decoded image becomes a tensor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImageSpec {
    pub width: usize,
    pub height: usize,
    /// "nchw" or "nhwc".
    pub layout: String,
    /// "rgb", "bgr" or "gray".
    pub channels: String,
    /// Pixel values (0–255) are multiplied by this, then (x − mean) / std.
    pub scale: f32,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Default for ImageSpec {
    fn default() -> Self {
        ImageSpec::preset("imagenet").expect("built-in preset")
    }
}

impl ImageSpec {
    /// Presets: `imagenet` (224², RGB, ImageNet mean/std), `unit` ([0, 1]),
    /// `symmetric` ([-1, 1]), `raw` (0–255).
    pub fn preset(name: &str) -> Option<ImageSpec> {
        let base =
            |scale: f32, mean: Vec<f32>, std: Vec<f32>| ImageSpec { width: 224, height: 224, layout: "nchw".into(), channels: "rgb".into(), scale, mean, std };
        Some(match name {
            "imagenet" => base(1.0 / 255.0, vec![0.485, 0.456, 0.406], vec![0.229, 0.224, 0.225]),
            "unit" => base(1.0 / 255.0, vec![0.0], vec![1.0]),
            "symmetric" => base(1.0 / 255.0, vec![0.5], vec![0.5]),
            "raw" => base(1.0, vec![0.0], vec![1.0]),
            _ => return None,
        })
    }
}

impl ImageSpec {
    /// `{ "preset": "imagenet", "width": 96, … }`: a preset (default
    /// imagenet) with any fields overridden.
    pub fn from_json(text: &str) -> Result<ImageSpec> {
        let bad = |detail: String| SquishError::Decode { what: "image preprocessing settings".into(), detail };
        let mut v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let preset = v.as_object_mut().and_then(|o| o.remove("preset")).and_then(|p| p.as_str().map(String::from)).unwrap_or_else(|| "imagenet".into());
        let base = ImageSpec::preset(&preset).ok_or_else(|| bad(format!("unknown preset '{preset}' (imagenet, unit, symmetric, raw)")))?;
        let mut merged = serde_json::to_value(base).map_err(|e| bad(e.to_string()))?;
        if let (Some(m), Some(o)) = (merged.as_object_mut(), v.as_object()) {
            for (k, val) in o {
                m.insert(k.clone(), val.clone());
            }
        }
        serde_json::from_value(merged).map_err(|e| bad(e.to_string()))
    }
}

/// RGBA pixels (`width × height × 4`, as canvases give them) → a `[1, C, H, W]`
/// or `[1, H, W, C]` float tensor: bilinear resize, channel order, scale,
/// mean and std per channel (one value applies to all).
pub fn image_tensor(rgba: &[u8], width: usize, height: usize, spec: &ImageSpec) -> Result<Tensor> {
    let bad = |d: String| data_err("image", d);
    if width == 0 || height == 0 || rgba.len() != width * height * 4 {
        return Err(bad(format!("{} bytes do not hold {width}×{height} RGBA pixels", rgba.len())));
    }
    if spec.width == 0 || spec.height == 0 || spec.width * spec.height > 1 << 24 {
        return Err(bad(format!("target size {}×{} is out of range", spec.width, spec.height)));
    }
    let order: &[usize] = match spec.channels.as_str() {
        "rgb" => &[0, 1, 2],
        "bgr" => &[2, 1, 0],
        "gray" => &[0],
        other => return Err(bad(format!("channels must be rgb, bgr or gray, not '{other}'"))),
    };
    let c = order.len();
    let per = |v: &[f32], what: &str| -> Result<Vec<f32>> {
        match v.len() {
            1 => Ok(vec![v[0]; c]),
            n if n == c => Ok(v.to_vec()),
            n => Err(bad(format!("{what} has {n} values for {c} channels"))),
        }
    };
    let (mean, std) = (per(&spec.mean, "mean")?, per(&spec.std, "std")?);
    if std.iter().any(|&s| s == 0.0 || !s.is_finite()) {
        return Err(bad("std must be non-zero".into()));
    }
    let (tw, th) = (spec.width, spec.height);
    let sample = |x: f32, y: f32, ch: usize| -> f32 {
        let px = |xi: usize, yi: usize| -> f32 {
            let p = &rgba[(yi * width + xi) * 4..][..4];
            if ch == 3 {
                0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
            } else {
                p[ch] as f32
            }
        };
        let (x0, y0) = (x.floor().max(0.0) as usize, y.floor().max(0.0) as usize);
        let (x0, y0) = (x0.min(width - 1), y0.min(height - 1));
        let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
        let (fx, fy) = ((x - x0 as f32).clamp(0.0, 1.0), (y - y0 as f32).clamp(0.0, 1.0));
        let top = px(x0, y0) * (1.0 - fx) + px(x1, y0) * fx;
        let bottom = px(x0, y1) * (1.0 - fx) + px(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    };
    let mut out = vec![0f32; c * tw * th];
    for yo in 0..th {
        // Pixel centres align (half-pixel mapping, as image libraries do).
        let y = ((yo as f32 + 0.5) * height as f32 / th as f32 - 0.5).max(0.0);
        for xo in 0..tw {
            let x = ((xo as f32 + 0.5) * width as f32 / tw as f32 - 0.5).max(0.0);
            for (k, &src) in order.iter().enumerate() {
                let src = if c == 1 { 3 } else { src };
                let v = (sample(x, y, src) * spec.scale - mean[k]) / std[k];
                let idx = match spec.layout.as_str() {
                    "nhwc" => (yo * tw + xo) * c + k,
                    _ => k * tw * th + yo * tw + xo,
                };
                out[idx] = v;
            }
        }
    }
    let shape = match spec.layout.as_str() {
        "nchw" => vec![1, c, th, tw],
        "nhwc" => vec![1, th, tw, c],
        other => return Err(bad(format!("layout must be nchw or nhwc, not '{other}'"))),
    };
    Tensor::from_vec(&shape, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_by_hand() {
        // 2×1 image: red then blue. Same size, unit scaling, NCHW.
        let rgba = [255, 0, 0, 255, 0, 0, 255, 255];
        let mut spec = ImageSpec::preset("unit").unwrap();
        spec.width = 2;
        spec.height = 1;
        let t = image_tensor(&rgba, 2, 1, &spec).unwrap();
        assert_eq!(t.shape(), &[1, 3, 1, 2]);
        assert_eq!(t.to_f64_vec(), vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        spec.layout = "nhwc".into();
        spec.channels = "bgr".into();
        let t = image_tensor(&rgba, 2, 1, &spec).unwrap();
        assert_eq!(t.shape(), &[1, 1, 2, 3]);
        assert_eq!(t.to_f64_vec(), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        // Downsampling 2 → 1 averages the two pixels (bilinear at the centre).
        spec.width = 1;
        spec.channels = "rgb".into();
        let t = image_tensor(&rgba, 2, 1, &spec).unwrap();
        assert_eq!(t.to_f64_vec(), vec![0.5, 0.0, 0.5]);
        assert!(image_tensor(&rgba[..7], 2, 1, &spec).is_err());
        spec.std = vec![0.0];
        assert!(image_tensor(&rgba, 2, 1, &spec).is_err());
        // A preset with overrides; unknown presets and keys are named.
        let s = ImageSpec::from_json(r#"{"preset": "symmetric", "width": 96, "layout": "nhwc"}"#).unwrap();
        assert_eq!((s.width, s.height, s.layout.as_str(), s.mean.clone()), (96, 224, "nhwc", vec![0.5]));
        assert!(ImageSpec::from_json(r#"{"preset": "sepia"}"#).unwrap_err().to_string().contains("unknown preset 'sepia'"));
        assert!(ImageSpec::from_json(r#"{"widht": 3}"#).unwrap_err().to_string().contains("widht"));
    }
}
