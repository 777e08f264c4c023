//! Error responses that many endpoints document alike, for their OpenAPI `responses(...)`:
//! each an [`ErrorBody`] (JSON) under its status. Only the document uses these types; the
//! handlers answer with `ApiError`.
//!
//! A doc comment on one of them would become its response's description, so they carry
//! plain comments, and the descriptions stay those written here.

use duet_proto::ErrorBody;
use utoipa::IntoResponses;

// 400: the path, query or body is not one the endpoint takes (`invalid_input`).
#[derive(Debug, IntoResponses)]
#[response(status = 400)]
pub struct BadRequest(pub ErrorBody);

// 401: no bearer token, or not a registered, unrevoked device's.
#[derive(Debug, IntoResponses)]
#[response(status = 401)]
pub struct Unauthorized(pub ErrorBody);

// 404: what the path names isn't there for the caller (a space it isn't a member of, too).
#[derive(Debug, IntoResponses)]
#[response(status = 404)]
pub struct NotFound(pub ErrorBody);

// An endpoint that reads a large body (`CborBody`): it may wait too long for it, or find
// the relay holding as many large bodies as it may.
#[derive(Debug, IntoResponses)]
pub enum LargeBody {
    #[response(status = 408, description = "The body did not arrive in time")]
    TimedOut(ErrorBody),
    #[response(
        status = 503,
        description = "Busy with other large bodies; retry after `Retry-After`"
    )]
    Busy(ErrorBody),
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use utoipa::OpenApi;

    /// Each shared response is an `ErrorBody` in JSON under its status, described as
    /// written here (the plain ones not at all).
    #[test]
    fn shared_responses_are_error_bodies() {
        let doc = serde_json::to_value(crate::api::ApiDoc::openapi()).unwrap();
        let error = json!({
            "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } }
        });
        let push = &doc["paths"]["/v1/spaces/{space}/blobs"]["post"]["responses"];
        let status =
            &doc["paths"]["/v1/spaces/{space}/attachments/{hash}/upload"]["get"]["responses"];
        for (response, description) in [
            (&status["400"], ""),
            (&status["401"], ""),
            (&push["404"], ""),
            (&push["408"], "The body did not arrive in time"),
            (
                &push["503"],
                "Busy with other large bodies; retry after `Retry-After`",
            ),
        ] {
            assert_eq!(
                *response,
                json!({ "description": description, "content": error })
            );
        }
    }
}
