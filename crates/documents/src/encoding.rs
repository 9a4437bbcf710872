//! Bytes to text: a BOM decides (UTF-8, UTF-16 LE/BE); else valid UTF-8 is taken as is; else the
//! encoding is guessed (chardetng, as browsers do) among legacy ones such as windows-1252, EUC-KR,
//! Shift_JIS and GBK. Binary data (NUL bytes, or many control characters) is refused.

use std::path::Path;

use encoding_rs::Encoding;

use crate::{Error, Result};

pub fn decode_text(path: &Path, bytes: &[u8]) -> Result<String> {
    let text = if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        let (text, had_errors) = encoding.decode_without_bom_handling(&bytes[bom..]);
        if had_errors {
            return Err(Error::Encoding {
                path: path.into(),
                detail: format!("invalid {} after its byte-order mark", encoding.name()),
            });
        }
        text.into_owned()
    } else if bytes.contains(&0) {
        return Err(Error::Binary { path: path.into() });
    } else {
        match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => {
                let mut detector =
                    chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Allow);
                detector.feed(bytes, true);
                let encoding = detector.guess(None, chardetng::Utf8Detection::Deny);
                let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
                if had_errors {
                    return Err(Error::Encoding {
                        path: path.into(),
                        detail: format!("neither UTF-8 nor valid {}", encoding.name()),
                    });
                }
                text.into_owned()
            }
        }
    };
    if looks_binary(&text) {
        return Err(Error::Binary { path: path.into() });
    }
    // Normalise line ends so that line numbers mean the same everywhere.
    Ok(if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text
    })
}

/// More than 1 in 50 characters are control characters other than tab, line feed, carriage return
/// and form feed (text has almost none; binary data decoded as a single-byte encoding has many).
fn looks_binary(text: &str) -> bool {
    let (mut total, mut control) = (0usize, 0usize);
    for c in text.chars().take(64 * 1024) {
        total += 1;
        if c == '\0' || (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c')) {
            control += 1;
        }
    }
    total > 0 && control * 50 > total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<String> {
        decode_text(Path::new("t.txt"), bytes)
    }

    #[test]
    fn boms_and_legacy_encodings() {
        assert_eq!(decode("plain\r\nline".as_bytes()).unwrap(), "plain\nline");
        assert_eq!(decode(b"\xef\xbb\xbfwith bom").unwrap(), "with bom");
        let utf16le: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain("héllo 한국".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(&utf16le).unwrap(), "héllo 한국");
        let utf16be: Vec<u8> = [0xfe, 0xff]
            .into_iter()
            .chain("δ".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(decode(&utf16be).unwrap(), "δ");
        let korean =
            "국회입법조사처는 국회의 입법 활동을 지원하는 연구 기관입니다. 보고서를 발간합니다.";
        let (euc_kr, _, _) = encoding_rs::EUC_KR.encode(korean);
        assert_eq!(decode(&euc_kr).unwrap(), korean);
        let japanese = "東京は日本の首都です。多くの人が住んでいます。電車がとても便利です。";
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(japanese);
        assert_eq!(decode(&sjis).unwrap(), japanese);
        assert_eq!(
            decode(b"Caf\xe9 cr\xe8me br\xfbl\xe9e").unwrap(),
            "Café crème brûlée"
        );
    }

    #[test]
    fn binary_is_refused() {
        assert!(matches!(
            decode(&[0x89, b'P', b'N', b'G', 0, 0, 0, 13]),
            Err(Error::Binary { .. })
        ));
        let noise: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 1)
            .collect();
        assert!(
            matches!(
                decode(&noise),
                Err(Error::Binary { .. }) | Err(Error::Encoding { .. })
            ),
            "{:?}",
            decode(&noise)
        );
    }
}
