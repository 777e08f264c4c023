//! Objects in an S3-compatible bucket (AWS, Garage, MinIO…) through Apache Arrow's
//! `object_store`: `--attachments-url s3://BUCKET?endpoint=http://HOST:PORT&region=REGION`,
//! credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`)
//! in the environment — never in the URL, never logged. A large object goes up as a
//! multipart upload read from its file a part at a time (never whole in memory); S3 makes
//! an object visible only once its upload completes.

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

use super::{ByteStream, ObjectError, ObjectResult, ObjectStore};

/// Objects up to this size go up in one PUT; larger ones in parts of this size.
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts in flight at once for one object.
const PARTS_IN_FLIGHT: usize = 2;

pub struct S3Objects {
    store: Arc<dyn object_store::ObjectStore>,
    bucket: String,
}

impl std::fmt::Debug for S3Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No credentials here: only the bucket.
        f.debug_struct("S3Objects")
            .field("bucket", &self.bucket)
            .finish()
    }
}

/// Where `s3://BUCKET?k=v&…` points: the bucket, and the query's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Url {
    pub bucket: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

pub(crate) fn parse_url(url: &str) -> ObjectResult<S3Url> {
    let bad = |why: &str| ObjectError::Config(format!("--attachments-url: {why}"));
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("not an s3:// URL"))?;
    let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
    let bucket = bucket.trim_end_matches('/');
    if bucket.is_empty() || bucket.contains('/') || bucket.contains('@') {
        return Err(bad(
            "s3://BUCKET?endpoint=…&region=… (no path, no credentials in the URL)",
        ));
    }
    let mut out = S3Url {
        bucket: bucket.to_string(),
        endpoint: None,
        region: None,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "endpoint" => out.endpoint = Some(v.to_string()),
            "region" => out.region = Some(v.to_string()),
            other => return Err(bad(&format!("unknown setting {other:?}"))),
        }
    }
    Ok(out)
}

fn backend(e: object_store::Error) -> ObjectError {
    match e {
        object_store::Error::NotFound { .. } => ObjectError::NotFound,
        e => ObjectError::Backend(e.to_string()),
    }
}

impl S3Objects {
    /// The bucket `url` names, with credentials from the environment.
    pub fn from_url(url: &str) -> ObjectResult<S3Objects> {
        let u = parse_url(url)?;
        // reqwest is built with rustls but no provider of its own: ring, as everywhere in
        // Duet (an error here only means one is installed already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let (Some(key), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err(ObjectError::Config(
                "an s3:// --attachments-url needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment".into(),
            ));
        };
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&u.bucket)
            .with_region(u.region.as_deref().unwrap_or("us-east-1"))
            .with_access_key_id(key)
            .with_secret_access_key(secret);
        if let Some(token) = env("AWS_SESSION_TOKEN") {
            b = b.with_token(token);
        }
        if let Some(endpoint) = &u.endpoint {
            // Garage, MinIO and the like: path-style requests, plain http on loopback.
            b = b
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = b
            .build()
            .map_err(|e| ObjectError::Config(format!("the S3 object store: {e}")))?;
        Ok(S3Objects {
            store: Arc::new(store),
            bucket: u.bucket,
        })
    }

    fn location(key: &str) -> ObjectResult<Path> {
        Path::parse(key).map_err(|e| ObjectError::Backend(format!("not an object key: {e}")))
    }
}

#[async_trait]
impl ObjectStore for S3Objects {
    fn kind(&self) -> &'static str {
        "s3"
    }

    async fn put_file(&self, key: &str, path: &FsPath, size: u64) -> ObjectResult<()> {
        let location = Self::location(key)?;
        let mut f = tokio::fs::File::open(path)
            .await
            .map_err(|e| ObjectError::Backend(format!("opening an upload: {e}")))?;
        if size <= PART_BYTES as u64 {
            let mut buf = Vec::with_capacity(size as usize);
            f.read_to_end(&mut buf)
                .await
                .map_err(|e| ObjectError::Backend(format!("reading an upload: {e}")))?;
            if buf.len() as u64 != size {
                return Err(ObjectError::Backend("an upload of the wrong size".into()));
            }
            self.store
                .put(&location, PutPayload::from(buf))
                .await
                .map_err(backend)?;
            return Ok(());
        }
        let upload = self.store.put_multipart(&location).await.map_err(backend)?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut sent = 0u64;
        let mut buf = vec![0u8; PART_BYTES];
        loop {
            let n = match f.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = w.abort().await;
                    return Err(ObjectError::Backend(format!("reading an upload: {e}")));
                }
            };
            if n == 0 {
                break;
            }
            // At most PARTS_IN_FLIGHT parts in memory at once.
            if let Err(e) = w.wait_for_capacity(PARTS_IN_FLIGHT).await {
                let _ = w.abort().await;
                return Err(backend(e));
            }
            w.write(&buf[..n]);
            sent += n as u64;
        }
        if sent != size {
            let _ = w.abort().await;
            return Err(ObjectError::Backend("an upload of the wrong size".into()));
        }
        w.finish().await.map_err(backend)?;
        Ok(())
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> ObjectResult<ByteStream> {
        let location = Self::location(key)?;
        let opts = GetOptions::new().with_range(Some(GetRange::Bounded(range)));
        let got = self
            .store
            .get_opts(&location, opts)
            .await
            .map_err(backend)?;
        Ok(got.into_stream().map(|r| r.map_err(backend)).boxed())
    }

    async fn size(&self, key: &str) -> ObjectResult<u64> {
        let location = Self::location(key)?;
        Ok(self.store.head(&location).await.map_err(backend)?.size)
    }

    async fn delete(&self, key: &str) -> ObjectResult<()> {
        let location = Self::location(key)?;
        match self.store.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod suite {
        use super::*;

        /// The bucket of `DUET_TEST_S3_URL` (credentials from the environment, as the
        /// relay takes them); `None` skips.
        async fn fresh() -> Option<((), S3Objects)> {
            let url = duet_e2e::s3::server_url()?;
            Some(((), S3Objects::from_url(&url).unwrap()))
        }

        crate::attachments::suite::object_suite!(fresh());
    }

    #[test]
    fn urls_name_a_bucket_and_its_endpoint() {
        let u = parse_url("s3://duet?endpoint=http://127.0.0.1:3900&region=garage").unwrap();
        assert_eq!(u.bucket, "duet");
        assert_eq!(u.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(u.region.as_deref(), Some("garage"));
        assert_eq!(parse_url("s3://b").unwrap().endpoint, None);
        assert!(parse_url("s3://").is_err());
        assert!(parse_url("s3://key:secret@b").is_err());
        assert!(parse_url("s3://b/prefix").is_err());
        assert!(parse_url("s3://b?secret=x").is_err());
        assert!(parse_url("http://b").is_err());
    }
}
