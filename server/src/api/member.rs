//! The preamble of every route under `/v1/spaces/{space}/…`: the [`Member`] extractor
//! authenticates the caller, parses the path and answers 404 to anyone who isn't a member
//! of the space — before the body is read, so a stranger hears 404 whatever it sends — and
//! hands the handler the relay's state along with them.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use duet_proto::SpaceInfo;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Path;
use crate::state::AppState;

/// A path naming a space: a bare `Uuid` for `/v1/spaces/{space}/…`, or a struct with a
/// `space` field and the rest of the route's parameters.
pub trait SpacePath {
    fn space(&self) -> Uuid;

    /// Checks the rest of the path, once the caller is known to be a member (so a stranger
    /// hears 404 rather than learn what a good path looks like).
    fn validate(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

impl SpacePath for Uuid {
    fn space(&self) -> Uuid {
        *self
    }
}

/// A check on the caller between authentication and membership (a rate limit that must
/// refuse before the relay spends a lookup); [`Open`] lets everyone through.
pub trait Gate {
    fn admit(state: &AppState, caller: &Caller) -> Result<(), ApiError>;
}

/// No gate.
#[derive(Debug)]
pub struct Open;

impl Gate for Open {
    fn admit(_: &AppState, _: &Caller) -> Result<(), ApiError> {
        Ok(())
    }
}

/// The caller, for a space they are a member of, with the route's path `P` and the relay's
/// state. `G` is checked between authentication and membership.
pub struct Member<P = Uuid, G = Open> {
    pub state: Arc<AppState>,
    pub caller: Caller,
    pub space: Uuid,
    pub path: P,
    gate: PhantomData<fn() -> G>,
}

impl<P: std::fmt::Debug, G> std::fmt::Debug for Member<P, G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("caller", &self.caller)
            .field("space", &self.space)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<P, G> FromRequestParts<Arc<AppState>> for Member<P, G>
where
    P: SpacePath + DeserializeOwned + Send,
    G: Gate,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let Path(path) = Path::<P>::from_request_parts(parts, state).await?;
        G::admit(state, &caller)?;
        let space = path.space();
        if !state.store.is_member(space, caller.device).await? {
            return Err(ApiError::not_found());
        }
        path.validate()?;
        Ok(Member {
            state: state.clone(),
            caller,
            space,
            path,
            gate: PhantomData,
        })
    }
}

impl<P, G> Member<P, G> {
    /// The space: members, persons, kind and head.
    pub async fn info(&self) -> Result<SpaceInfo, ApiError> {
        self.state
            .store
            .space_info(self.space)
            .await?
            .ok_or_else(ApiError::not_found)
    }
}
