//! `KeyRepo` on PostgreSQL: one row per key, its namespaces as an array.

use crate::error::{from_diesel, skipped};
use crate::models::ApiKeyRow;
use crate::pool::PgRepository;
use crate::schema::api_keys;
use crate::uploads::TxError;
use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use stowage_domain::auth::ApiKey;
use stowage_domain::error::RepoError;
use stowage_domain::error::decodable;
use stowage_domain::ids::{KeyId, NamespaceId};
use stowage_domain::ports::KeyRepo;
use time::OffsetDateTime;

impl PgRepository {
    /// Applies `change` to the locked key `id` and stores it, in one transaction; `None` when
    /// there is no such key.
    async fn update_key(
        &self,
        id: &KeyId,
        change: impl FnOnce(&mut ApiKey) + Send,
    ) -> Result<Option<ApiKey>, RepoError> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, TxError, _>(async |conn| {
            let row = api_keys::table
                .find(id.as_str())
                .for_update()
                .select(ApiKeyRow::as_select())
                .first(conn)
                .await
                .optional()?;
            let Some(mut key) = row.map(ApiKey::try_from).transpose()? else { return Ok(None) };
            change(&mut key);
            diesel::update(api_keys::table.find(key.id.as_str())).set(ApiKeyRow::from(&key)).execute(conn).await?;
            Ok(Some(key))
        })
        .await
        .map_err(RepoError::from)
    }
}

#[async_trait]
impl KeyRepo for PgRepository {
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), RepoError> {
        let mut conn = self.conn().await?;
        diesel::insert_into(api_keys::table)
            .values(ApiKeyRow::from(key))
            .execute(&mut conn)
            .await
            .map(drop)
            .map_err(from_diesel)
    }

    async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKey>, RepoError> {
        let mut conn = self.conn().await?;
        let row = api_keys::table
            .filter(api_keys::key_hash.eq(key_hash))
            .select(ApiKeyRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.map(ApiKey::try_from).transpose()
    }

    async fn list_api_keys(&self, namespace: Option<NamespaceId>) -> Result<Vec<ApiKey>, RepoError> {
        let mut conn = self.conn().await?;
        let mut query =
            api_keys::table.select(ApiKeyRow::as_select()).order((api_keys::created_at, api_keys::id)).into_boxed();
        if let Some(namespace) = namespace {
            let listed: Vec<Option<String>> = vec![Some(namespace.to_string())];
            query = query.filter(api_keys::namespaces.contains(listed));
        }
        let rows = query.load(&mut conn).await.map_err(from_diesel)?;
        Ok(decodable("api_keys", rows, ApiKey::try_from, skipped))
    }

    async fn revoke_api_key(&self, id: &KeyId, now: OffsetDateTime) -> Result<Option<ApiKey>, RepoError> {
        self.update_key(id, move |key| key.revoke(now)).await
    }

    async fn touch_api_key(&self, id: &KeyId, now: OffsetDateTime) -> Result<(), RepoError> {
        self.update_key(id, move |key| key.last_used_at = Some(now)).await.map(drop)
    }
}
