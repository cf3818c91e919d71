//! What a product's file is, from its content: magic bytes for the binary types, the ZIP's central directory for
//! DOCX and XLSX (ZIPs holding `word/` or `xl/` entries), valid UTF-8 for CSV and TXT, and a parse for JSON. The name
//! the uploader gave (its extension, else the part's `Content-Type`) must agree with the content; a file whose
//! content is of no allowed type, or of another type than its name says, is refused naming what it was found to be.
//! The stored media type is the detected one, so a download is always labelled by what it is.

use crate::{ErrorCode, MarketError, Result};

/// The file types a product may be (the402's: PDF, images, ZIP, CSV, JSON, DOCX, XLSX, TXT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Pdf,
    Png,
    Jpeg,
    Gif,
    Webp,
    Zip,
    Docx,
    Xlsx,
    Csv,
    Json,
    Txt,
}

/// What the allowed types are, for messages.
const ALLOWED: &str = "PDF, PNG, JPEG, GIF, WEBP, ZIP, DOCX, XLSX, CSV, JSON or TXT";

impl FileKind {
    const ALL: [Self; 11] = [
        Self::Pdf,
        Self::Png,
        Self::Jpeg,
        Self::Gif,
        Self::Webp,
        Self::Zip,
        Self::Docx,
        Self::Xlsx,
        Self::Csv,
        Self::Json,
        Self::Txt,
    ];

    /// Its media type, as stored and served (the migration's check lists the same).
    pub(crate) const fn media_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Zip => "application/zip",
            Self::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Csv => "text/csv",
            Self::Json => "application/json",
            Self::Txt => "text/plain",
        }
    }

    const fn extensions(self) -> &'static [&'static str] {
        match self {
            Self::Pdf => &["pdf"],
            Self::Png => &["png"],
            Self::Jpeg => &["jpg", "jpeg"],
            Self::Gif => &["gif"],
            Self::Webp => &["webp"],
            Self::Zip => &["zip"],
            Self::Docx => &["docx"],
            Self::Xlsx => &["xlsx"],
            Self::Csv => &["csv"],
            Self::Json => &["json"],
            Self::Txt => &["txt", "text", "md"],
        }
    }

    /// The kind whose media type `media_type` is (a stored value).
    pub(crate) fn from_media_type(media_type: &str) -> Option<Self> {
        let essence = media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|kind| kind.media_type() == essence)
    }

    const fn is_text(self) -> bool {
        matches!(self, Self::Csv | Self::Json | Self::Txt)
    }
}

/// What the bytes were found to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sniffed {
    /// An allowed binary type (DOCX and XLSX told from ZIP by their entries).
    Binary(FileKind),
    /// UTF-8 text; whether it parses as JSON.
    Text { json: bool },
    /// Something no product may be, as a media type with a word of explanation.
    Refused(&'static str),
}

/// The type of `bytes` uploaded as `file_name` (with the part's `content_type`, if any), or a 400 saying what the
/// content was found to be.
pub(crate) fn classify(bytes: &[u8], file_name: &str, content_type: Option<&str>) -> Result<FileKind> {
    if bytes.is_empty() {
        return Err(MarketError::field(ErrorCode::InvalidField, "file", "the file is empty"));
    }
    let declared = declared(file_name, content_type)?;
    let refused = |detected: &str| {
        let named = declared.map_or_else(String::new, |kind| format!(" (named as {})", kind.media_type()));
        MarketError::field(
            ErrorCode::UnsupportedFileType,
            "file",
            format!("the file's content is {detected}{named}; products may be {ALLOWED}"),
        )
    };
    match (sniff(bytes), declared) {
        (Sniffed::Refused(what), _) => Err(refused(what)),
        (Sniffed::Binary(found), None) => Ok(found),
        (Sniffed::Binary(found), Some(named)) if named == found => Ok(found),
        // A DOCX or XLSX is a ZIP: named .zip, it is served as the ZIP it also is.
        (Sniffed::Binary(FileKind::Docx | FileKind::Xlsx), Some(FileKind::Zip)) => Ok(FileKind::Zip),
        (Sniffed::Binary(found), Some(_)) => Err(refused(found.media_type())),
        (Sniffed::Text { json }, None) => Ok(if json { FileKind::Json } else { FileKind::Txt }),
        (Sniffed::Text { json: false }, Some(FileKind::Json)) => Err(refused("text that is not valid JSON")),
        (Sniffed::Text { .. }, Some(named)) if named.is_text() => Ok(named),
        (Sniffed::Text { .. }, Some(_)) => Err(refused("UTF-8 text")),
    }
}

/// The type the upload's name says: its extension, else the part's media type; `None` when neither names one.
fn declared(file_name: &str, content_type: Option<&str>) -> Result<Option<FileKind>> {
    if let Some((_, extension)) = file_name.rsplit_once('.').filter(|(stem, _)| !stem.is_empty()) {
        let extension = extension.to_ascii_lowercase();
        return match FileKind::ALL.into_iter().find(|kind| kind.extensions().contains(&extension.as_str())) {
            Some(kind) => Ok(Some(kind)),
            None => Err(MarketError::field(
                ErrorCode::UnsupportedFileType,
                "file",
                format!("a .{extension} file is not a type products may be: {ALLOWED}"),
            )),
        };
    }
    Ok(content_type.and_then(FileKind::from_media_type))
}

fn sniff(bytes: &[u8]) -> Sniffed {
    const MAGIC: [(&[u8], FileKind); 7] = [
        (b"%PDF-", FileKind::Pdf),
        (b"\x89PNG\r\n\x1a\n", FileKind::Png),
        (b"\xff\xd8\xff", FileKind::Jpeg),
        (b"GIF87a", FileKind::Gif),
        (b"GIF89a", FileKind::Gif),
        (b"PK\x03\x04", FileKind::Zip),
        // An empty archive is only its end record.
        (b"PK\x05\x06", FileKind::Zip),
    ];
    if let Some((_, kind)) = MAGIC.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return match kind {
            FileKind::Zip => zip_kind(bytes),
            kind => Sniffed::Binary(*kind),
        };
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Sniffed::Binary(FileKind::Webp);
    }
    const REFUSED: [(&[u8], &str); 8] = [
        (b"\x7fELF", "application/x-elf (an executable)"),
        (b"MZ", "application/x-msdownload (a Windows executable)"),
        (b"\xcf\xfa\xed\xfe", "application/x-mach-binary (an executable)"),
        (b"\xca\xfe\xba\xbe", "application/java-vm (a class file or executable)"),
        (b"\x1f\x8b", "application/gzip"),
        (b"Rar!", "application/vnd.rar"),
        (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
        (b"\0asm", "application/wasm"),
    ];
    if let Some((_, what)) = REFUSED.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return Sniffed::Refused(what);
    }
    let Ok(text) = std::str::from_utf8(bytes) else { return Sniffed::Refused("application/octet-stream (binary)") };
    // Valid UTF-8 can still be binary; NUL never appears in text.
    if text.contains('\0') {
        return Sniffed::Refused("application/octet-stream (binary)");
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let start: String = text.trim_start().chars().take(64).collect::<String>().to_ascii_lowercase();
    if ["<!doctype html", "<html", "<head", "<body", "<script", "<iframe"].iter().any(|tag| start.starts_with(tag)) {
        return Sniffed::Refused("text/html");
    }
    if start.starts_with("<svg") || (start.starts_with("<?xml") && text.contains("<svg")) {
        return Sniffed::Refused("image/svg+xml");
    }
    Sniffed::Text { json: serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() }
}

/// A ZIP's kind from its central directory's entry names: DOCX holds `word/`, XLSX `xl/`; an archive whose
/// directory cannot be read is refused as damaged.
fn zip_kind(bytes: &[u8]) -> Sniffed {
    let Some(names) = zip_names(bytes) else {
        return Sniffed::Refused("application/zip (damaged: no readable directory)");
    };
    if names.iter().any(|name| name.starts_with(b"word/")) {
        Sniffed::Binary(FileKind::Docx)
    } else if names.iter().any(|name| name.starts_with(b"xl/")) {
        Sniffed::Binary(FileKind::Xlsx)
    } else {
        Sniffed::Binary(FileKind::Zip)
    }
}

/// The entry names of a ZIP's central directory (APPNOTE.TXT 4.3.12 and 4.3.16), or `None` when it is unreadable.
fn zip_names(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    /// The end of central directory record: signature, then its fixed 22 bytes, then a comment of up to 65,535.
    const EOCD: &[u8] = b"PK\x05\x06";
    const EOCD_LEN: usize = 22;
    const ENTRY: &[u8] = b"PK\x01\x02";
    const ENTRY_LEN: usize = 46;
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])));
    let u32_at = |at: usize| {
        bytes.get(at..at + 4).and_then(|b| usize::try_from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok())
    };
    let earliest = bytes.len().saturating_sub(EOCD_LEN + usize::from(u16::MAX));
    let end = (earliest..=bytes.len().checked_sub(EOCD_LEN)?).rev().find(|&at| bytes[at..].starts_with(EOCD))?;
    let entries = u16_at(end + 10)?;
    let mut at = u32_at(end + 16)?;
    let mut names = Vec::with_capacity(entries.min(1_024));
    for _ in 0..entries {
        if !bytes.get(at..)?.starts_with(ENTRY) {
            return None;
        }
        let (name_len, extra_len, comment_len) = (u16_at(at + 28)?, u16_at(at + 30)?, u16_at(at + 32)?);
        names.push(bytes.get(at + ENTRY_LEN..at + ENTRY_LEN + name_len)?);
        at += ENTRY_LEN + name_len + extra_len + comment_len;
    }
    Some(names)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A stored (uncompressed) ZIP holding `names`, each with a few bytes: enough for the directory to be read.
    pub(crate) fn zip(names: &[&str]) -> Vec<u8> {
        let (mut out, mut directory) = (Vec::new(), Vec::new());
        for name in names {
            let offset = out.len() as u32;
            let data = b"data";
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            directory.extend_from_slice(b"PK\x01\x02");
            directory.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            directory.extend_from_slice(&(data.len() as u32).to_le_bytes());
            directory.extend_from_slice(&(data.len() as u32).to_le_bytes());
            directory.extend_from_slice(&(name.len() as u16).to_le_bytes());
            directory.extend_from_slice(&[0; 12]);
            directory.extend_from_slice(&offset.to_le_bytes());
            directory.extend_from_slice(name.as_bytes());
        }
        let (start, size) = (out.len() as u32, directory.len() as u32);
        out.extend_from_slice(&directory);
        out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
        out.extend_from_slice(&(names.len() as u16).to_le_bytes());
        out.extend_from_slice(&(names.len() as u16).to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    fn code(result: Result<FileKind>) -> String {
        let error = result.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::UnsupportedFileType), "{error}");
        error.to_string()
    }

    #[test]
    fn binary_types_are_told_by_their_magic() {
        assert_eq!(classify(b"%PDF-1.7\n...", "a.pdf", None).unwrap(), FileKind::Pdf);
        assert_eq!(classify(b"\x89PNG\r\n\x1a\n....", "a.PNG", None).unwrap(), FileKind::Png);
        assert_eq!(classify(b"\xff\xd8\xff\xe0..", "a.jpeg", None).unwrap(), FileKind::Jpeg);
        assert_eq!(classify(b"GIF89a...", "a.gif", None).unwrap(), FileKind::Gif);
        assert_eq!(classify(b"RIFF\x10\0\0\0WEBPVP8 ", "a.webp", None).unwrap(), FileKind::Webp);
        assert_eq!(classify(b"%PDF-1.4", "noextension", None).unwrap(), FileKind::Pdf);
    }

    #[test]
    fn office_files_are_zips_with_their_directories() {
        let docx = zip(&["[Content_Types].xml", "word/document.xml"]);
        let xlsx = zip(&["[Content_Types].xml", "xl/workbook.xml"]);
        let plain = zip(&["readme.txt"]);
        assert_eq!(classify(&docx, "report.docx", None).unwrap(), FileKind::Docx);
        assert_eq!(classify(&xlsx, "sheet.xlsx", None).unwrap(), FileKind::Xlsx);
        assert_eq!(classify(&plain, "bundle.zip", None).unwrap(), FileKind::Zip);
        assert_eq!(classify(&docx, "bundle.zip", None).unwrap(), FileKind::Zip);
        assert!(code(classify(&plain, "report.docx", None)).contains("application/zip"));
        assert!(code(classify(b"PK\x03\x04garbage", "a.zip", None)).contains("damaged"));
    }

    #[test]
    fn text_must_be_utf8_and_json_must_parse() {
        assert_eq!(classify(b"a,b\n1,2\n", "data.csv", None).unwrap(), FileKind::Csv);
        assert_eq!(classify(b"{\"a\": [1, 2]}", "data.json", None).unwrap(), FileKind::Json);
        assert_eq!(classify(b"{\"a\": 1}", "notes.txt", None).unwrap(), FileKind::Txt);
        assert_eq!(classify(b"[1]", "data", None).unwrap(), FileKind::Json);
        assert_eq!(classify("plain text, caf\u{e9}".as_bytes(), "x", Some("text/plain")).unwrap(), FileKind::Txt);
        assert!(code(classify(b"{not json", "data.json", None)).contains("not valid JSON"));
        assert!(code(classify(b"\xff\xfe\0\x01binary", "data.csv", None)).contains("octet-stream"));
    }

    #[test]
    fn mismatches_and_disallowed_content_name_what_was_found() {
        let elf = code(classify(b"\x7fELF\x02\x01\x01\0\0\0", "manual.pdf", None));
        assert!(elf.contains("application/x-elf") && elf.contains("named as application/pdf"), "{elf}");
        let html = code(classify(b"<!DOCTYPE html><html><script>x</script></html>", "manual.pdf", None));
        assert!(html.contains("text/html"), "{html}");
        assert!(code(classify(b"<html></html>", "page.txt", None)).contains("text/html"));
        let png_as_pdf = code(classify(b"\x89PNG\r\n\x1a\n....", "manual.pdf", None));
        assert!(png_as_pdf.contains("image/png"), "{png_as_pdf}");
        assert!(code(classify(b"plain", "manual.pdf", None)).contains("UTF-8 text"));
        assert!(code(classify(b"MZ\x90\0", "setup.exe", None)).contains(".exe"));
        assert!(code(classify(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "logo", None)).contains("svg"));
        let empty = classify(b"", "a.txt", None).unwrap_err();
        assert_eq!(empty.code(), Some(ErrorCode::InvalidField));
    }
}
