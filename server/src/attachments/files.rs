//! Objects as files under a directory (by default `DATA_DIR/attachments/objects`), one per
//! key: `SPACE/HASH`. An object is written under a temporary name in its final directory,
//! synced, then renamed into place (and the directory synced): a crash never leaves half
//! an object visible under its key.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{ByteStream, ObjectError, ObjectResult, ObjectStore};

/// Bytes read per chunk of a download.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct FileObjects {
    root: PathBuf,
}

fn io_error(what: &str, e: io::Error) -> ObjectError {
    if e.kind() == io::ErrorKind::NotFound {
        ObjectError::NotFound
    } else {
        ObjectError::Backend(format!("{what}: {e}"))
    }
}

impl FileObjects {
    pub fn open(root: &Path) -> ObjectResult<FileObjects> {
        std::fs::create_dir_all(root)
            .map_err(|e| ObjectError::Config(format!("creating {}: {e}", root.display())))?;
        Ok(FileObjects {
            root: root.to_path_buf(),
        })
    }

    /// The directory objects are in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A key's file. Keys come from [`super::object_key`] (a UUID and hex digits), but a
    /// key that could leave the root is refused all the same.
    fn path(&self, key: &str) -> ObjectResult<PathBuf> {
        let safe = !key.is_empty()
            && key
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '/');
        if !safe {
            return Err(ObjectError::Backend(format!("not an object key: {key:?}")));
        }
        Ok(self.root.join(key))
    }
}

/// Put `src` at `dest` atomically: a hard link (or a copy, across file systems) under a
/// temporary name beside `dest`, synced, renamed into place, and the directory synced.
fn put_blocking(src: &Path, dest: &Path, size: u64) -> ObjectResult<()> {
    let dir = dest
        .parent()
        .ok_or_else(|| ObjectError::Backend("an object path without a directory".into()))?;
    std::fs::create_dir_all(dir).map_err(|e| io_error("creating an object's directory", e))?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        if std::fs::hard_link(src, &tmp).is_err() {
            std::fs::copy(src, &tmp).map_err(|e| io_error("copying an object", e))?;
        }
        let f = std::fs::File::open(&tmp).map_err(|e| io_error("opening an object", e))?;
        let len = f
            .metadata()
            .map_err(|e| io_error("reading an object", e))?
            .len();
        if len != size {
            return Err(ObjectError::Backend(format!(
                "an object of {len} bytes where {size} were expected"
            )));
        }
        f.sync_all().map_err(|e| io_error("syncing an object", e))?;
        std::fs::rename(&tmp, dest).map_err(|e| io_error("renaming an object", e))?;
        if let Ok(d) = std::fs::File::open(dir) {
            // The rename itself on stable storage.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[async_trait]
impl ObjectStore for FileObjects {
    fn kind(&self) -> &'static str {
        "files"
    }

    async fn put_file(&self, key: &str, path: &Path, size: u64) -> ObjectResult<()> {
        let dest = self.path(key)?;
        let src = path.to_path_buf();
        tokio::task::spawn_blocking(move || put_blocking(&src, &dest, size))
            .await
            .map_err(|e| ObjectError::Backend(format!("storing an object: {e}")))?
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> ObjectResult<ByteStream> {
        let mut f = tokio::fs::File::open(self.path(key)?)
            .await
            .map_err(|e| io_error("opening an object", e))?;
        f.seek(io::SeekFrom::Start(range.start))
            .await
            .map_err(|e| io_error("seeking in an object", e))?;
        let left = range.end.saturating_sub(range.start);
        let stream = futures_util::stream::unfold((f, left), |(mut f, left)| async move {
            if left == 0 {
                return None;
            }
            let want = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
            let mut buf = vec![0u8; want];
            match f.read(&mut buf).await {
                Ok(0) => Some((
                    Err(ObjectError::Backend("an object ended early".into())),
                    (f, 0),
                )),
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), (f, left - n as u64)))
                }
                Err(e) => Some((Err(io_error("reading an object", e)), (f, 0))),
            }
        });
        Ok(stream.boxed())
    }

    async fn size(&self, key: &str) -> ObjectResult<u64> {
        tokio::fs::metadata(self.path(key)?)
            .await
            .map(|m| m.len())
            .map_err(|e| io_error("reading an object", e))
    }

    async fn delete(&self, key: &str) -> ObjectResult<()> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("deleting an object", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod suite {
        use super::*;
        use crate::testing::in_temp_dir;

        crate::attachments::suite::object_suite!(in_temp_dir(FileObjects::open));
    }

    #[tokio::test]
    async fn keys_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileObjects::open(dir.path()).unwrap();
        for key in ["../x", "a/../../x", "/etc/passwd", "a//b", "", "a b"] {
            assert!(store.size(key).await.is_err(), "{key:?}");
        }
        // A crash before the rename leaves only a temporary name, never the key.
        std::fs::write(dir.path().join("src"), b"abc").unwrap();
        assert!(
            put_blocking(&dir.path().join("src"), &dir.path().join("k/x"), 4).is_err(),
            "a size that doesn't match"
        );
        assert!(!dir.path().join("k/x").exists());
        let leftovers = std::fs::read_dir(dir.path().join("k")).unwrap().count();
        assert_eq!(leftovers, 0, "the temporary file is removed");
    }
}
