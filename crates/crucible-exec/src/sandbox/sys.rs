//! Thin safe wrappers over the few system calls the parent side of the sandbox makes.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A pipe whose both ends close on exec: `(read, write)`.
#[expect(unsafe_code, reason = "pipe2 fills a two-element array")]
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array; on success we own both.
    unsafe {
        check(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC))?;
        Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])))
    }
}

/// Make reads from `fd` return `EAGAIN` instead of blocking.
#[expect(unsafe_code, reason = "fcntl on an owned descriptor")]
pub(crate) fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL on a valid descriptor.
    unsafe {
        let flags = check(libc::fcntl(fd.as_raw_fd(), libc::F_GETFL))?;
        check(libc::fcntl(
            fd.as_raw_fd(),
            libc::F_SETFL,
            flags | libc::O_NONBLOCK,
        ))?;
    }
    Ok(())
}

/// Read what is available; `Ok(0)` is end of file, `WouldBlock` means nothing yet.
#[expect(unsafe_code, reason = "read into a slice")]
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the buffer is valid for `buf.len()` bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Write all of `buf` (blocking descriptor).
#[expect(unsafe_code, reason = "write from a slice")]
pub(crate) fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: the buffer is valid for `buf.len()` bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Wait until one of `fds` is readable (or hung up), at most `timeout_ms`.
#[expect(unsafe_code, reason = "poll over a slice of pollfd")]
pub(crate) fn poll_readable(fds: &[RawFd], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: the pollfd array is valid for its length.
    let n = unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as _, timeout_ms) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(err);
    }
    Ok(pollfds.iter().map(|p| p.revents != 0).collect())
}

/// Send a signal.
#[expect(unsafe_code, reason = "kill(2)")]
pub(crate) fn kill(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    check(unsafe { libc::kill(pid, signal) }).map(|_| ())
}

/// Reap a child; returns its raw wait status.
#[expect(unsafe_code, reason = "waitpid with an out-pointer")]
pub(crate) fn wait(pid: i32) -> io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status into a local.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r >= 0 {
            return Ok(status);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Whether a child has exited, without blocking; reaps it if so.
#[expect(unsafe_code, reason = "waitpid with WNOHANG")]
pub(crate) fn has_exited(pid: i32) -> bool {
    let mut status = 0;
    // SAFETY: waitpid writes the status into a local.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG | libc::__WALL) };
    r == pid || r < 0
}

/// Mount flags of the file system holding `path`, as `MS_*` bits a bind remount must keep
/// (a user namespace may not clear them).
#[expect(unsafe_code, reason = "statvfs with an out-pointer")]
pub(crate) fn locked_mount_flags(path: &Path) -> io::Result<libc::c_ulong> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: statvfs fills a zeroed struct.
    let st = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        check(libc::statvfs(c.as_ptr(), &mut st))?;
        st
    };
    let pairs = [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ];
    Ok(pairs
        .iter()
        .filter(|(st_flag, _)| st.f_flag & st_flag != 0)
        .fold(0, |acc, (_, ms)| acc | ms))
}

/// Fill `buf` with random bytes from the kernel.
#[expect(unsafe_code, reason = "getrandom into a slice")]
pub(crate) fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: the destination range is inside `buf`.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        filled += n as usize;
    }
    Ok(())
}

/// An anonymous in-memory file holding `contents`, positioned at its start. Inputs and the
/// proof channel use these instead of files on disk, whose creation and removal cost
/// milliseconds on a busy file system.
#[expect(unsafe_code, reason = "memfd_create and lseek")]
pub(crate) fn memfd(name: &std::ffi::CStr, contents: &[u8]) -> io::Result<OwnedFd> {
    // SAFETY: memfd_create returns a new descriptor we own; lseek takes plain values.
    let fd = unsafe {
        let raw = libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC);
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        OwnedFd::from_raw_fd(raw)
    };
    write_all(fd.as_raw_fd(), contents)?;
    // SAFETY: as above.
    if unsafe { libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_SET) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Everything in a file from its start (for a memfd written through another descriptor).
#[expect(unsafe_code, reason = "pread into a slice")]
pub(crate) fn read_from_start(fd: &OwnedFd, max: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while out.len() < max {
        // SAFETY: the buffer is valid for its length.
        let n = unsafe {
            libc::pread(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                out.len() as libc::off_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    out.truncate(max);
    Ok(out)
}

/// Effective user and group ids of this process.
#[expect(unsafe_code, reason = "geteuid/getegid cannot fail")]
pub(crate) fn ids() -> (u32, u32) {
    // SAFETY: no arguments, no failure modes.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// Change the owner of a path (root mode hands the compile output directory to the sandbox
/// user).
pub(crate) fn chown(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
}

/// Whether the kernel has `mount_setattr` (Linux 5.12), which can make a mount and all its
/// submounts read-only in one call.
#[expect(
    unsafe_code,
    reason = "a probing mount_setattr call with invalid arguments"
)]
pub(crate) fn has_mount_setattr() -> bool {
    // SAFETY: an invalid descriptor and null pointers: the kernel rejects the call before it
    // reads anything; only ENOSYS (no such call) matters.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            std::ptr::null::<libc::c_char>(),
            0,
            std::ptr::null::<libc::mount_attr>(),
            0,
        )
    };
    !(r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS))
}
