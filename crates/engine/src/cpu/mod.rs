//! CPU kernels for Llama inference: quantized matrix multiplication (`matmul`), the weight and
//! activation block formats (`quant`) and the thread pool that splits the work (`pool`).
//!
//! Every kernel exists as portable scalar code and, on x86-64, as AVX2 (+FMA, F16C) and AVX-512
//! VNNI variants compiled with `#[target_feature]` and picked at run time, so a binary built for
//! the baseline x86-64 target still uses the vector units of the machine it runs on.
//! See README.md in this directory for the weight layout and measured speed.

pub(crate) mod bench;
pub(crate) mod f32_gemm;
pub(crate) mod matmul;
pub(crate) mod pool;
pub(crate) mod quant;

use std::sync::OnceLock;

/// The instruction set a kernel runs with; ordered from least to most capable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Isa {
    /// Portable Rust; the reference every other path is tested against.
    Scalar,
    /// AVX2 + FMA + F16C.
    Avx2,
    /// AVX-512 F/BW/VL + VNNI (on top of everything `Avx2` needs).
    Avx512Vnni,
}

/// The environment variable that lowers the instruction set (`scalar`, `avx2`, `avx512`).
pub(crate) const ISA_ENV: &str = "ALMANAC_CPU_ISA";

impl Isa {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512Vnni => "avx512",
        }
    }

    fn from_name(name: &str) -> Option<Isa> {
        match name.trim().to_ascii_lowercase().as_str() {
            "scalar" => Some(Isa::Scalar),
            "avx2" => Some(Isa::Avx2),
            "avx512" | "avx512vnni" => Some(Isa::Avx512Vnni),
            _ => None,
        }
    }

    /// Every instruction set this CPU can run, `Scalar` first.
    pub(crate) fn all_supported() -> Vec<Isa> {
        let best = detect();
        [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni]
            .into_iter()
            .filter(|isa| *isa <= best)
            .collect()
    }
}

/// The instruction set the kernels use: the best the CPU has, lowered by `ALMANAC_CPU_ISA`
/// (asking for more than the CPU has gets what it has). Decided once per process.
pub(crate) fn isa() -> Isa {
    static CHOSEN: OnceLock<Isa> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let requested = std::env::var(ISA_ENV).ok().and_then(|v| Isa::from_name(&v));
        choose(detect(), requested)
    })
}

fn choose(detected: Isa, requested: Option<Isa>) -> Isa {
    requested.map_or(detected, |r| r.min(detected))
}

/// The best instruction set this CPU supports.
pub(crate) fn detect() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c");
        let avx512 = is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512vnni");
        if avx2 && avx512 {
            return Isa::Avx512Vnni;
        }
        if avx2 {
            return Isa::Avx2;
        }
    }
    Isa::Scalar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_ignored() {
        for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni] {
            assert_eq!(Isa::from_name(isa.name()), Some(isa));
        }
        assert_eq!(Isa::from_name(" AVX2 "), Some(Isa::Avx2));
        assert_eq!(Isa::from_name("neon"), None);
    }

    #[test]
    fn an_override_only_lowers_the_detected_isa() {
        assert_eq!(choose(Isa::Avx2, Some(Isa::Scalar)), Isa::Scalar);
        assert_eq!(choose(Isa::Avx2, Some(Isa::Avx512Vnni)), Isa::Avx2);
        assert_eq!(choose(Isa::Avx512Vnni, None), Isa::Avx512Vnni);
    }

    #[test]
    fn supported_isas_start_with_scalar_and_end_with_the_detected_one() {
        let all = Isa::all_supported();
        assert_eq!(all[0], Isa::Scalar);
        assert_eq!(*all.last().unwrap(), detect());
        assert!(isa() <= detect());
    }
}
