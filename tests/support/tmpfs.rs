//! A real, size-limited tmpfs for the disk-fault tests: mounted in a private mount namespace of
//! one thread, so the processes that thread starts see it and nothing else on the machine does,
//! and it vanishes with the thread and its children (even if the test process is killed): no
//! mount can leak. Full is real ENOSPC (a filler file takes the free space), read-only is a real
//! `remount,ro`. Needs CAP_SYS_ADMIN: as root without it the test fails; not root, it prints one
//! `SKIPPED:` line on the terminal (docs/decisions/0017-disk-faults.md).
#![allow(dead_code)]

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub struct Tmpfs {
    /// The mount point: a fresh temporary folder, covered by the tmpfs in this namespace only.
    dir: tempfile::TempDir,
    size_bytes: u64,
}

const FILLER: &str = "filler";

/// Runs `scenario` on a new thread inside its own mount namespace with a tmpfs of `size_bytes`
/// mounted; returns `None` (after printing why) only when this user may not mount at all.
pub fn with_tmpfs<T: Send>(
    test: &str,
    size_bytes: u64,
    scenario: impl FnOnce(&Tmpfs) -> T + Send,
) -> Option<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let dir = tempfile::tempdir().expect("temp dir");
                if let Err(why) = private_namespace() {
                    return not_permitted(test, why);
                }
                let fs = Tmpfs { dir, size_bytes };
                if let Err(why) = fs.mount(false) {
                    return not_permitted(test, why);
                }
                Some(scenario(&fs))
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A mount namespace of this thread alone, with every mount private so none propagates back.
fn private_namespace() -> std::io::Result<()> {
    // SAFETY: plain system calls with valid, NUL-terminated arguments.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let root = CString::new("/").unwrap();
        let flags = libc::MS_REC | libc::MS_PRIVATE;
        if libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Not root: say so on the terminal (libtest hides a passing test's prints) and skip. Root
/// without CAP_SYS_ADMIN (a container): fail, as CI runs these tests as root and must run them.
fn not_permitted<T>(test: &str, why: std::io::Error) -> Option<T> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let line = format!(
        "{test}: SKIPPED: mounting a tmpfs needs CAP_SYS_ADMIN (run the tests as root): {why}"
    );
    assert!(
        !root,
        "{test}: running as root but cannot mount a tmpfs ({why}): give the container CAP_SYS_ADMIN"
    );
    let _ = writeln!(std::io::stderr().lock(), "{line}");
    None
}

impl Tmpfs {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn mount(&self, remount_read_only: bool) -> std::io::Result<()> {
        let target = CString::new(self.path().as_os_str().as_bytes()).unwrap();
        let fstype = CString::new("tmpfs").unwrap();
        let options = CString::new(format!("size={}", self.size_bytes)).unwrap();
        let flags = if remount_read_only {
            libc::MS_REMOUNT | libc::MS_RDONLY
        } else {
            0
        };
        // SAFETY: valid NUL-terminated strings that outlive the call.
        let rc = unsafe {
            libc::mount(
                fstype.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                flags,
                options.as_ptr().cast(),
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// `mount -o remount,ro` (refused with EBUSY while a process holds a file open for writing).
    pub fn read_only(&self) {
        self.mount(true).expect("remount the tmpfs read-only");
    }

    /// `mount -o remount,rw`.
    pub fn writable(&self) {
        let target = CString::new(self.path().as_os_str().as_bytes()).unwrap();
        let options = CString::new(format!("size={}", self.size_bytes)).unwrap();
        // SAFETY: as in `mount`.
        let rc = unsafe {
            libc::mount(
                std::ptr::null(),
                target.as_ptr(),
                std::ptr::null(),
                libc::MS_REMOUNT,
                options.as_ptr().cast(),
            )
        };
        assert_eq!(
            rc,
            0,
            "remount read-write: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Takes every free byte but `headroom` with a filler file at the tmpfs's root.
    pub fn fill_leaving(&self, headroom: u64) {
        let path = self.filler();
        let mut file = std::fs::File::create(&path).expect("create the filler");
        let block = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("writing the filler: {e}"),
            }
        }
        // A partial last block may still fit: take the small remainder too.
        for _ in 0..16 {
            match file.write(&block[..4096]) {
                Ok(n) if n > 0 => written += n as u64,
                _ => break,
            }
        }
        file.set_len(written.saturating_sub(headroom))
            .expect("shrink the filler");
        file.sync_all().ok();
    }

    /// Ends the full disk.
    pub fn unfill(&self) {
        std::fs::remove_file(self.filler()).expect("remove the filler");
    }

    fn filler(&self) -> PathBuf {
        self.path().join(FILLER)
    }
}

impl Drop for Tmpfs {
    /// Unmounted before the folder is removed, so the (empty) mount point goes too.
    fn drop(&mut self) {
        if let Ok(target) = CString::new(self.path().as_os_str().as_bytes()) {
            // SAFETY: a valid NUL-terminated path.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
    }
}
