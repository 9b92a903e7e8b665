//! Host keys checked against known_hosts files, in OpenSSH's format.
//!
//! Written by hand rather than with `russh::keys::known_hosts`, which splits
//! on single spaces, miscounts lines after comments, ignores `@revoked` and
//! wildcard patterns, and cannot say which file a changed key came from.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use russh::keys::{Algorithm, HashAlg, PublicKey};
use sha1::Sha1;

use super::error::SshError;

/// What the known_hosts files say about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// The key is recorded for this host.
    Known,
    /// No key at all is recorded for this host (`@revoked` and
    /// `@cert-authority` lines aside).
    Unknown,
    /// Another key is recorded for this host and the one offered is not:
    /// possible man-in-the-middle. The recorded key is of the offered type
    /// when there is one; otherwise (the host switched key type) of another
    /// type. Stricter than OpenSSH, which calls that case new (warning that
    /// other types are known) and lets accept-new learn it.
    Changed {
        file: PathBuf,
        line: usize,
        /// The recorded key's algorithm, e.g. `ssh-ed25519`.
        recorded_algorithm: String,
    },
    /// The key is marked `@revoked`.
    Revoked { file: PathBuf, line: usize },
}

/// `SHA256:...` as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The name known_hosts records: `host`, or `[host]:port` off port 22.
pub fn host_entry_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Checks `key` for `host:port` against every file (missing files are empty).
/// A revoked key wins, then a match, then another key of the same type, then
/// a key of another type; a host with no key recorded is unknown.
pub fn check(
    files: &[PathBuf],
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Result<HostKeyStatus, SshError> {
    let mut known = false;
    let mut same_type = None;
    let mut other_type = None;
    for r in recorded(files, host, port)? {
        let same = r.key.key_data() == key.key_data();
        match r.marker {
            Marker::Revoked if same => {
                return Ok(HostKeyStatus::Revoked {
                    file: r.file,
                    line: r.line,
                });
            }
            Marker::None if same => known = true,
            Marker::None => {
                let slot = if same_key_type(&r.key.algorithm(), &key.algorithm()) {
                    &mut same_type
                } else {
                    &mut other_type
                };
                if slot.is_none() {
                    *slot = Some(r);
                }
            }
            _ => {}
        }
    }
    Ok(if known {
        HostKeyStatus::Known
    } else if let Some(r) = same_type.or(other_type) {
        HostKeyStatus::Changed {
            recorded_algorithm: r.key.algorithm().to_string(),
            file: r.file,
            line: r.line,
        }
    } else {
        HostKeyStatus::Unknown
    })
}

/// The algorithms of the keys recorded for `host:port` (`@revoked` and
/// `@cert-authority` lines aside), first seen first, each once.
pub fn recorded_algorithms(
    files: &[PathBuf],
    host: &str,
    port: u16,
) -> Result<Vec<Algorithm>, SshError> {
    let mut algorithms: Vec<Algorithm> = Vec::new();
    for r in recorded(files, host, port)? {
        let algorithm = r.key.algorithm();
        if r.marker == Marker::None && !algorithms.iter().any(|a| same_key_type(a, &algorithm)) {
            algorithms.push(algorithm);
        }
    }
    Ok(algorithms)
}

/// `preferred` with the algorithms of the `recorded` key types moved to the
/// front (each part in its own order), as OpenSSH orders HostKeyAlgorithms:
/// a server with several host keys then shows the one already known rather
/// than one of another type, which [`check`] would refuse as changed.
pub fn prefer_recorded(preferred: &[Algorithm], recorded: &[Algorithm]) -> Vec<Algorithm> {
    let is_recorded = |a: &Algorithm| recorded.iter().any(|r| same_key_type(r, a));
    let (mut first, rest): (Vec<_>, Vec<_>) = preferred.iter().cloned().partition(is_recorded);
    first.extend(rest);
    first
}

/// Whether two algorithms use the same kind of key: RSA keys are one type
/// whichever hash signs with them (`ssh-rsa`, `rsa-sha2-256`, `rsa-sha2-512`).
fn same_key_type(a: &Algorithm, b: &Algorithm) -> bool {
    match (a, b) {
        (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
        _ => a == b,
    }
}

/// One parsed key line that names the host.
struct Recorded {
    file: PathBuf,
    line: usize,
    marker: Marker,
    key: PublicKey,
}

/// Every line of `files` whose patterns match `host:port` and whose key
/// parses, in order (missing files are empty).
fn recorded(files: &[PathBuf], host: &str, port: u16) -> Result<Vec<Recorded>, SshError> {
    let name = host_entry_name(host, port);
    let mut found = Vec::new();
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(SshError::KnownHosts {
                    action: "read",
                    path: file.clone(),
                    source,
                });
            }
        };
        for (index, line) in text.lines().enumerate() {
            let Some(entry) = Entry::parse(line) else {
                continue;
            };
            if !entry.matches_host(&name) {
                continue;
            }
            let Ok(key) = PublicKey::from_openssh(&format!("{} {}", entry.algo, entry.blob)) else {
                continue;
            };
            found.push(Recorded {
                file: file.clone(),
                line: index + 1,
                marker: entry.marker,
                key,
            });
        }
    }
    Ok(found)
}

/// Appends `host:port key` to `file` (created `0600` with its folder if
/// missing), hashed like `HashKnownHosts yes` when asked.
pub fn learn(
    file: &Path,
    host: &str,
    port: u16,
    key: &PublicKey,
    hashed: bool,
) -> Result<(), SshError> {
    let err = |source| SshError::KnownHosts {
        action: "write",
        path: file.to_owned(),
        source,
    };
    let name = host_entry_name(host, port);
    let name = if hashed { hash_name(&name) } else { name };
    let key_text = key
        .to_openssh()
        .map_err(|e| err(std::io::Error::other(e.to_string())))?;
    // Drop the comment: known_hosts lines are `name algo blob`.
    let mut parts = key_text.split_whitespace();
    let (Some(algo), Some(blob)) = (parts.next(), parts.next()) else {
        return Err(err(std::io::Error::other("key has no OpenSSH encoding")));
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let needs_newline = std::fs::read(file)
        .map(|b| b.last().is_some_and(|&c| c != b'\n'))
        .unwrap_or(false);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(file).map_err(err)?;
    let line = format!(
        "{}{name} {algo} {blob}\n",
        if needs_newline { "\n" } else { "" }
    );
    f.write_all(line.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)
}

/// `|1|salt|hmac-sha1(salt, name)`, as OpenSSH writes hashed entries.
fn hash_name(name: &str) -> String {
    let mut salt = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut salt);
    format!(
        "|1|{}|{}",
        B64.encode(salt),
        B64.encode(hmac_sha1(&salt, name))
    )
}

fn hmac_sha1(salt: &[u8], name: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    match <Hmac<Sha1> as Mac>::new_from_slice(salt) {
        Ok(mut mac) => {
            mac.update(name.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

struct Entry<'a> {
    marker: Marker,
    hosts: &'a str,
    algo: &'a str,
    blob: &'a str,
}

impl<'a> Entry<'a> {
    fn parse(line: &'a str) -> Option<Entry<'a>> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next()?;
        let marker = match first {
            "@revoked" => Marker::Revoked,
            "@cert-authority" => Marker::CertAuthority,
            m if m.starts_with('@') => return None,
            _ => Marker::None,
        };
        if marker != Marker::None {
            first = fields.next()?;
        }
        Some(Entry {
            marker,
            hosts: first,
            algo: fields.next()?,
            blob: fields.next()?,
        })
    }

    /// OpenSSH semantics: hashed names, or a comma list of patterns where a
    /// matching negated pattern vetoes the line.
    fn matches_host(&self, name: &str) -> bool {
        if let Some(rest) = self.hosts.strip_prefix("|1|") {
            let mut parts = rest.split('|');
            let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
                return false;
            };
            let (Ok(salt), Ok(hash)) = (B64.decode(salt), B64.decode(hash)) else {
                return false;
            };
            return hmac_sha1(&salt, name) == hash;
        }
        let mut matched = false;
        for pattern in self.hosts.split(',') {
            if let Some(negated) = pattern.strip_prefix('!') {
                if wildcard(negated, name) {
                    return false;
                }
            } else if wildcard(pattern, name) {
                matched = true;
            }
        }
        matched
    }
}

/// `*` and `?` glob, case-insensitive like ssh's host matching.
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA6rWI3G1sz07DnfFlrouTcysQlj2P+jpNSOEWD9OJ3X";
    /// A key of another type than `A` and `B`.
    const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBF7nXeQSrkNYOYjmIZ8xPwHhBoSAQ/3LSPX8HtiEnjgtUYFbwQ7Rau8fX0oITV/SwaFiNKhgNzTxUJ1r4TG3Tss=";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    #[test]
    fn known_unknown_changed_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("known_hosts");
        let files = vec![f.clone()];
        assert_eq!(
            check(&files, "h", 2222, &key(A)).unwrap(),
            HostKeyStatus::Unknown
        );
        learn(&f, "h", 2222, &key(A), false).unwrap();
        learn(&f, "hashed", 22, &key(A), true).unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.starts_with("[h]:2222 ssh-ed25519 "), "{text}");
        assert!(text.lines().nth(1).unwrap().starts_with("|1|"), "{text}");
        assert_eq!(
            check(&files, "h", 2222, &key(A)).unwrap(),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&files, "hashed", 22, &key(A)).unwrap(),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&files, "h", 22, &key(A)).unwrap(),
            HostKeyStatus::Unknown
        );
        assert_eq!(
            check(&files, "h", 2222, &key(B)).unwrap(),
            HostKeyStatus::Changed {
                file: f.clone(),
                line: 1,
                recorded_algorithm: "ssh-ed25519".into(),
            }
        );
        std::fs::write(&f, format!("# c\n\n*.lan,!bad.lan  {A}\n@revoked * {B}\n")).unwrap();
        assert_eq!(
            check(&files, "x.lan", 22, &key(A)).unwrap(),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&files, "bad.lan", 22, &key(A)).unwrap(),
            HostKeyStatus::Unknown
        );
        assert_eq!(
            check(&files, "x.lan", 22, &key(B)).unwrap(),
            HostKeyStatus::Revoked {
                file: f.clone(),
                line: 4
            }
        );
    }

    #[test]
    fn a_key_of_another_type_than_the_recorded_one_is_changed_not_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("known_hosts");
        let files = vec![f.clone()];
        let status = |host: &str, offered: &str| check(&files, host, 2222, &key(offered)).unwrap();
        let changed = |line, recorded_algorithm: &str| HostKeyStatus::Changed {
            file: f.clone(),
            line,
            recorded_algorithm: recorded_algorithm.into(),
        };

        // Only an ed25519 key is known: an ECDSA key is a changed key, plain
        // or hashed, and so is the other way round.
        learn(&f, "h", 2222, &key(A), false).unwrap();
        learn(&f, "hashed", 2222, &key(ECDSA), true).unwrap();
        assert_eq!(status("h", ECDSA), changed(1, "ssh-ed25519"));
        assert_eq!(status("hashed", A), changed(2, "ecdsa-sha2-nistp256"));
        assert_eq!(status("elsewhere", ECDSA), HostKeyStatus::Unknown);

        // A recorded key of the offered type is the one named; the offered
        // key itself anywhere makes it known.
        std::fs::write(&f, format!("[h]:2222 {ECDSA}\n[h]:2222 {B}\n")).unwrap();
        assert_eq!(status("h", A), changed(2, "ssh-ed25519"));
        std::fs::write(&f, format!("[h]:2222 {ECDSA}\n[h]:2222 {A}\n")).unwrap();
        assert_eq!(status("h", A), HostKeyStatus::Known);

        // @revoked lines stay as they were: the offered key revoked wins, and
        // a revoked key of another type records nothing.
        std::fs::write(&f, format!("[h]:2222 {ECDSA}\n@revoked [h]:2222 {A}\n")).unwrap();
        assert_eq!(
            status("h", A),
            HostKeyStatus::Revoked {
                file: f.clone(),
                line: 2
            }
        );
        std::fs::write(&f, format!("@revoked [h]:2222 {ECDSA}\n")).unwrap();
        assert_eq!(status("h", A), HostKeyStatus::Unknown);
    }

    #[test]
    fn recorded_key_types_are_preferred_as_openssh_orders_them() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("known_hosts");
        let files = vec![f.clone()];
        std::fs::write(
            &f,
            format!("[h]:2222 {ECDSA}\n@revoked [h]:2222 {A}\n[h]:2222 {ECDSA}\nother {B}\n"),
        )
        .unwrap();
        let ecdsa = key(ECDSA).algorithm();
        let recorded = recorded_algorithms(&files, "h", 2222).unwrap();
        assert_eq!(recorded, vec![ecdsa.clone()]);
        assert!(recorded_algorithms(&files, "none", 22).unwrap().is_empty());

        let rsa = |hash| Algorithm::Rsa { hash };
        let preferred = [
            Algorithm::Ed25519,
            ecdsa.clone(),
            rsa(Some(HashAlg::Sha512)),
            rsa(None),
        ];
        assert_eq!(
            prefer_recorded(&preferred, &recorded),
            vec![
                ecdsa.clone(),
                Algorithm::Ed25519,
                rsa(Some(HashAlg::Sha512)),
                rsa(None)
            ]
        );
        // A recorded `ssh-rsa` key brings every RSA signature algorithm forward.
        assert_eq!(
            prefer_recorded(&preferred, &[rsa(None)]),
            vec![
                rsa(Some(HashAlg::Sha512)),
                rsa(None),
                Algorithm::Ed25519,
                ecdsa
            ]
        );
        assert_eq!(prefer_recorded(&preferred, &[]), preferred.to_vec());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", "anything"));
        assert!(wildcard("b?x", "box"));
        assert!(wildcard("*.example.*", "a.example.org"));
        assert!(!wildcard("b?x", "boxx"));
        assert!(wildcard("a*b*c", "aXXbYYc"));
        assert!(!wildcard("a*b*c", "aXXbYY"));
    }
}
