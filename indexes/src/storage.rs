//! What a failed write says about the disk under it. SQLite reports a full disk as "database or
//! disk is full" and a read-only file system as a bare "disk I/O error" (or "attempt to write a
//! readonly database"), so the file system is asked (statvfs) and the message says which it is:
//! `the disk is full (…)`, `the file system is read-only (…)`. Used for every file of a library
//! and by almanac-core for its queue and conversation store (docs/decisions/0017-disk-faults.md).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Why writes under a path fail, as far as the file system tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFault {
    ReadOnly,
    Full,
}

impl std::fmt::Display for DiskFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DiskFault::ReadOnly => "the file system is read-only",
            DiskFault::Full => "the disk is full",
        })
    }
}

/// The fault of the file system holding `path` (or its nearest existing folder): read-only, or no
/// free block left for this user. `None` when it looks writable, or cannot be asked.
pub fn disk_fault(path: &Path) -> Option<DiskFault> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let c_path = CString::new(existing.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the zeroed struct; the path is NUL-terminated and outlives the call.
    let stat = unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c_path.as_ptr(), &mut stat) != 0 {
            return None;
        }
        stat
    };
    if stat.f_flag & libc::ST_RDONLY != 0 {
        Some(DiskFault::ReadOnly)
    } else if stat.f_bavail == 0 {
        Some(DiskFault::Full)
    } else {
        None
    }
}

/// `message` (one line) with the disk's fault in front when there is one: `full` says the error
/// itself was a full disk (ENOSPC, SQLITE_FULL), which a statvfs after the failed write may no
/// longer show (the failed write's blocks are free again).
pub fn explain(path: &Path, message: &str, full: bool) -> String {
    let message = message.replace('\n', " ");
    match disk_fault(path).or(full.then_some(DiskFault::Full)) {
        Some(fault) if !message.contains(&fault.to_string()) => format!("{fault} ({message})"),
        _ => message,
    }
}

/// A SQLite error on the database `path`, in one line, with the disk's fault in front.
pub fn explain_sqlite(path: &Path, err: &rusqlite::Error) -> String {
    let full = err.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull);
    explain(path, &err.to_string(), full)
}

/// An I/O error on `path`, in one line, with the disk's fault in front.
pub fn explain_io(path: &Path, err: &std::io::Error) -> String {
    let full = matches!(err.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT));
    explain(path, &err.to_string(), full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writable_folder_has_no_fault_and_messages_pass_through() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(disk_fault(&dir.path().join("not/yet/there.sqlite")), None);
        assert_eq!(
            explain(dir.path(), "disk I/O error", false),
            "disk I/O error"
        );
        assert_eq!(
            explain(dir.path(), "database or disk is full", true),
            "the disk is full (database or disk is full)"
        );
        let enospc = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(explain_io(dir.path(), &enospc).starts_with("the disk is full (No space left"));
    }
}
