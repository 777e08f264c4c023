//! The attachment routes (issue 11) for [`Client`]: uploads in pieces, downloads with
//! ranges, references. Raw protocol: the bytes are whatever the test calls "sealed".

use duet_proto::attachments::{AttachmentInfo, UploadStatus, to_hex};
use reqwest::Method;
use uuid::Uuid;

use super::client::Client;
use super::http::{Body, ClientError, Response, send_request};

/// The media type of attachment bytes.
pub const OCTETS: &str = "application/octet-stream";

/// An attachment's address: the BLAKE3 hash of its (sealed) bytes.
pub fn attachment_hash(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

/// `/v1/spaces/{space}/attachments/{hash}`.
pub fn attachment_path(space: Uuid, hash: &[u8; 32]) -> String {
    format!("/v1/spaces/{space}/attachments/{}", to_hex(hash))
}

/// The `PATCH …/upload` path and query.
pub fn upload_path(space: Uuid, hash: &[u8; 32], offset: u64, size: u64, r: &[u8; 16]) -> String {
    format!(
        "{}/upload?offset={offset}&size={size}&ref={}",
        attachment_path(space, hash),
        to_hex(r)
    )
}

impl Client {
    /// `PATCH …/upload`: `bytes` at `offset` of an attachment of `size` bytes; the relay's
    /// [`UploadStatus`] or its typed refusal.
    pub async fn upload_piece(
        &self,
        space: Uuid,
        hash: &[u8; 32],
        offset: u64,
        size: u64,
        r: &[u8; 16],
        bytes: &[u8],
    ) -> Result<UploadStatus, ClientError> {
        let path = upload_path(space, hash, offset, size, r);
        self.request(Method::PATCH, &path, Some(Body::raw(OCTETS, bytes)))
            .await?
            .ok()?
            .cbor()
    }

    /// Upload `data` whole in pieces of `piece` bytes (from wherever the relay is), under
    /// reference `r`; the final status.
    pub async fn upload_attachment(
        &self,
        space: Uuid,
        data: &[u8],
        r: &[u8; 16],
        piece: usize,
    ) -> Result<UploadStatus, ClientError> {
        let hash = attachment_hash(data);
        let size = data.len() as u64;
        let mut offset = match self.upload_status(space, &hash).await {
            Ok(s) if s.complete => 0,
            Ok(s) => s.received,
            Err(_) => 0,
        };
        loop {
            let end = (offset as usize + piece).min(data.len());
            let s = self
                .upload_piece(space, &hash, offset, size, r, &data[offset as usize..end])
                .await?;
            if s.complete {
                return Ok(s);
            }
            offset = s.received;
        }
    }

    /// `GET …/upload`.
    pub async fn upload_status(
        &self,
        space: Uuid,
        hash: &[u8; 32],
    ) -> Result<UploadStatus, ClientError> {
        let path = format!("{}/upload", attachment_path(space, hash));
        self.request(Method::GET, &path, None).await?.ok()?.cbor()
    }

    /// `GET …` (or `HEAD`) with an optional `Range` header, as received.
    pub async fn download_with(
        &self,
        method: Method,
        space: Uuid,
        hash: &[u8; 32],
        range: Option<&str>,
    ) -> Result<Response, ClientError> {
        let url = format!("{}{}", self.base(), attachment_path(space, hash));
        let mut req = self.http().request(method, url);
        if let Some(r) = range {
            req = req.header(reqwest::header::RANGE, r);
        }
        send_request(req, Some(&self.token), None).await
    }

    /// The whole attachment's bytes, or the typed refusal.
    pub async fn download(&self, space: Uuid, hash: &[u8; 32]) -> Result<Vec<u8>, ClientError> {
        let d = self.download_with(Method::GET, space, hash, None).await?;
        Ok(d.ok()?.body)
    }

    /// `PUT …/refs/{ref}`.
    pub async fn add_attachment_ref(
        &self,
        space: Uuid,
        hash: &[u8; 32],
        r: &[u8; 16],
    ) -> Result<AttachmentInfo, ClientError> {
        let path = format!("{}/refs/{}", attachment_path(space, hash), to_hex(r));
        self.request(Method::PUT, &path, None).await?.ok()?.cbor()
    }

    /// `DELETE …/refs/{ref}`: 204 or the typed refusal.
    pub async fn release_attachment_ref(
        &self,
        space: Uuid,
        hash: &[u8; 32],
        r: &[u8; 16],
    ) -> Result<(), ClientError> {
        let path = format!("{}/refs/{}", attachment_path(space, hash), to_hex(r));
        let resp = self.request(Method::DELETE, &path, None).await?.ok()?;
        assert_eq!(resp.status, 204, "a released reference answers 204");
        Ok(())
    }
}
