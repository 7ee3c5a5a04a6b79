//! `KeyRepo` on PostgreSQL: one row per key, its namespaces as an array.

use crate::error::from_diesel;
use crate::models::ApiKeyRow;
use crate::pool::PgRepository;
use crate::schema::api_keys;
use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use stowage_domain::auth::ApiKey;
use stowage_domain::error::RepoError;
use stowage_domain::ids::{KeyId, NamespaceId};
use stowage_domain::ports::KeyRepo;
use time::OffsetDateTime;

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
        rows.into_iter().map(ApiKey::try_from).collect()
    }

    async fn revoke_api_key(&self, id: &KeyId, now: OffsetDateTime) -> Result<Option<ApiKey>, RepoError> {
        let mut conn = self.conn().await?;
        // A key revoked already keeps its first revocation time.
        diesel::update(api_keys::table.filter(api_keys::id.eq(id.as_str())).filter(api_keys::revoked_at.is_null()))
            .set(api_keys::revoked_at.eq(now))
            .execute(&mut conn)
            .await
            .map_err(from_diesel)?;
        let row = api_keys::table
            .filter(api_keys::id.eq(id.as_str()))
            .select(ApiKeyRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.map(ApiKey::try_from).transpose()
    }

    async fn touch_api_key(&self, id: &KeyId, now: OffsetDateTime) -> Result<(), RepoError> {
        let mut conn = self.conn().await?;
        diesel::update(api_keys::table.filter(api_keys::id.eq(id.as_str())))
            .set(api_keys::last_used_at.eq(now))
            .execute(&mut conn)
            .await
            .map(drop)
            .map_err(from_diesel)
    }
}
