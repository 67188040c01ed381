//! Accounts and sessions: register, login, refresh rotation, logout, password
//! change, WebSocket tickets, and checking an access token against the database.

use crate::ids::UserId;
use mongodb::bson::DateTime;
use secrecy::ExposeSecret;

use super::Auth;
use super::throttle::retry_after_secs;
use super::tokens::{TokenError, hash_opaque, new_opaque};
use crate::domain::{DisplayName, FieldErrors, Password, Role, Username};
use crate::error::{ApiError, ErrorCode};
use crate::ids::new_id;
use crate::limits::WS_TICKET_TTL_SECS;
use crate::store::tokens::{RefreshDoc, RotationDoc, TicketDoc};
use crate::store::users::{AuthFacts, UserDoc};
use crate::store::{is_duplicate_key, now};

/// The authenticated caller, checked against the database on every request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: crate::ids::UserId,
    pub username: String,
    pub role: Role,
    pub token_version: i64,
    /// Unix seconds when the presented access token expires.
    pub token_expires_at: i64,
}

/// A freshly issued access/refresh pair.
pub struct IssuedPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

/// Throttle keys are bounded so a hostile username cannot bloat memory.
fn throttle_key(raw: &str) -> String {
    raw.chars().take(64).collect::<String>().to_lowercase()
}

/// Checks an access token: signature, claims, and that the user still exists, is
/// enabled and has not revoked tokens of this version.
#[tracing::instrument(
    name = "auth.authenticate",
    level = "debug",
    skip_all,
    err(level = "debug")
)]
pub async fn authenticate(auth: &Auth, token: &str) -> Result<CurrentUser, ApiError> {
    let claims = auth.keys.verify_access(token).map_err(|err| match err {
        TokenError::Expired => {
            ApiError::new(ErrorCode::TokenExpired, "the access token has expired")
        }
        TokenError::Invalid => {
            ApiError::new(ErrorCode::InvalidToken, "the access token is invalid")
        }
    })?;
    let revoked = || ApiError::new(ErrorCode::InvalidToken, "the access token has been revoked");
    // From memory when possible: the user store refreshes these facts itself
    // whenever it changes the user (role, disable, password, logout-all).
    let user = auth
        .store
        .users
        .auth_facts(&UserId::from_trusted(claims.sub.clone()))
        .await?
        .ok_or_else(revoked)?;
    if user.disabled || user.token_version != claims.tv {
        return Err(revoked());
    }
    Ok(CurrentUser {
        id: user.id,
        username: user.username,
        role: user.role,
        token_version: user.token_version,
        token_expires_at: claims.exp,
    })
}

pub struct Registration<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub display_name: Option<&'a str>,
}

#[tracing::instrument(name = "auth.register", level = "debug", skip_all, fields(%ip), err(level = "debug"))]
pub async fn register(auth: &Auth, ip: &str, input: Registration<'_>) -> Result<UserDoc, ApiError> {
    if let Err(wait) = auth.throttles.register_per_ip.hit(ip).await {
        tracing::warn!(event = "rate_limited", limit = "register_per_ip", %ip, "sign-up rate limit hit");
        return Err(ApiError::rate_limited(retry_after_secs(wait)));
    }
    let mut errors = FieldErrors::default();
    let username = errors.take("username", Username::parse(input.username));
    let display_name = errors.take(
        "display_name",
        DisplayName::parse(input.display_name.unwrap_or(input.username)),
    );
    let context: Vec<&str> = [Some(input.username), input.display_name]
        .into_iter()
        .flatten()
        .collect();
    let password = errors.take("password", Password::parse_new(input.password, &context));
    let (Some(username), Some(display_name), Some(password)) = (username, display_name, password)
    else {
        return Err(errors.into());
    };
    if reserved_for_admin(auth, username.as_str()) {
        tracing::warn!(event = "admin_username_refused", %ip, "registration of the bootstrap admin's username refused");
        return Err(username_taken());
    }
    create_user(auth, username, display_name, &password, Role::User).await
}

fn username_taken() -> ApiError {
    ApiError::new(ErrorCode::UsernameTaken, "that username is taken")
}

async fn create_user(
    auth: &Auth,
    username: Username,
    display_name: DisplayName,
    password: &Password,
    role: Role,
) -> Result<UserDoc, ApiError> {
    if auth
        .store
        .users
        .by_username(username.as_str())
        .await?
        .is_some()
    {
        return Err(username_taken());
    }
    let user = UserDoc {
        id: UserId::generate(),
        username: username.into_inner(),
        display_name: display_name.into_inner(),
        password_hash: auth.hasher.hash(password).await?,
        role,
        disabled: false,
        token_version: 0,
        created_at: now(),
    };
    match auth.store.users.insert(&user).await {
        Ok(()) => {
            tracing::info!(event = "user_registered", user_id = %user.id, username = %user.username);
            Ok(user)
        }
        Err(err) if is_duplicate_key(&err) => Err(username_taken()),
        Err(err) => Err(err.into()),
    }
}

#[tracing::instrument(name = "auth.login", level = "debug", skip_all, fields(%ip, username = %throttle_key(username)), err(level = "debug"))]
pub async fn login(
    auth: &Auth,
    ip: &str,
    username: &str,
    password: &str,
) -> Result<IssuedPair, ApiError> {
    let password =
        Password::parse_for_login(password).map_err(|m| ApiError::invalid_field("password", m))?;
    let user_key = throttle_key(username);
    let throttles = &auth.throttles;
    // Both counters are charged before any hashing, atomically with their check,
    // so parallel guesses cannot all slip past the limit while the first ones hash.
    // A charge is refunded (on drop) unless the attempt turns out to be a failure.
    let rate_limited = |limit: &'static str, wait| {
        tracing::warn!(event = "rate_limited", limit, username = %user_key, %ip, "login rate limit hit");
        ApiError::rate_limited(retry_after_secs(wait))
    };
    let user_charge = throttles
        .login_per_user
        .charge(&user_key)
        .await
        .map_err(|wait| rate_limited("login_per_user", wait))?;
    let ip_charge = throttles
        .login_per_ip
        .charge(ip)
        .await
        .map_err(|wait| rate_limited("login_per_ip", wait))?;
    let found = match Username::parse(username) {
        Ok(name) => auth.store.users.by_username(name.as_str()).await?,
        Err(_) => None,
    };
    let verified = match &found {
        Some(user) => auth.hasher.verify(&password, &user.password_hash).await?,
        None => {
            auth.hasher.verify_decoy(&password).await?;
            false
        }
    };
    let user = match found {
        Some(user) if verified => user,
        _ => {
            user_charge.keep();
            ip_charge.keep();
            tracing::warn!(event = "login_failed", username = %user_key, %ip, "login failed");
            return Err(ApiError::new(
                ErrorCode::InvalidCredentials,
                "invalid username or password",
            ));
        }
    };
    drop((user_charge, ip_charge));
    if user.disabled {
        return Err(ApiError::new(
            ErrorCode::AccountDisabled,
            "this account is disabled",
        ));
    }
    throttles.login_per_user.clear(&user_key).await;
    tracing::info!(event = "login", user_id = %user.id);
    minted(issue_pair(auth, &AuthFacts::from(&user), new_id(), Parent::Login).await?)
}

/// Issues a pair; `parent` is the refresh token being rotated. A
/// `refresh_token_reused` error means that token has been rotated already.
/// What a new refresh token descends from.
enum Parent<'a> {
    /// A login: the first of a family.
    Login,
    /// The rotation of this token (claimed once, by the rotation document).
    Rotation(&'a RefreshDoc),
    /// A retry of this token's rotation within the grace: a sibling of the token
    /// it was rotated into, in the same family.
    Retry(&'a RefreshDoc),
}

async fn issue_pair(
    auth: &Auth,
    user: &AuthFacts,
    family_id: String,
    parent: Parent<'_>,
) -> Result<Option<IssuedPair>, ApiError> {
    let (refresh_token, hash) = new_opaque();
    let tokens = &auth.store.tokens;
    if let Parent::Rotation(parent) = parent {
        // The rotation document's `_id` (the parent's hash) decides: one child each.
        let rotation = RotationDoc {
            parent: parent.hash.clone(),
            child: hash.clone(),
            family_id: family_id.clone(),
            user_id: user.id.clone(),
            expires_at: parent.expires_at,
            rotated_at: Some(now()),
        };
        if !tokens.claim_rotation(&rotation).await? {
            // Another refresh of the same token claimed its rotation first.
            return Ok(None);
        }
    }
    // `parent` is unique: a retry names itself apart from the rotation's child.
    let parent = match parent {
        Parent::Login => format!("root:{hash}"),
        Parent::Rotation(p) => p.hash.clone(),
        Parent::Retry(p) => format!("retry:{}:{hash}", p.hash),
    };
    let created_at = now();
    let ttl_ms = i64::try_from(auth.config.refresh_token_ttl.as_millis()).unwrap_or(i64::MAX);
    tokens
        .insert_refresh(&RefreshDoc {
            hash,
            user_id: user.id.clone(),
            family_id: family_id.clone(),
            parent,
            created_at,
            expires_at: DateTime::from_millis(created_at.timestamp_millis().saturating_add(ttl_ms)),
            revoked: false,
            token_version: user.token_version,
        })
        .await
        .map_err(|err| {
            if is_duplicate_key(&err) {
                // The parent token has a child already: this is a replay.
                ApiError::new(ErrorCode::RefreshTokenReused, REUSED)
            } else {
                err.into()
            }
        })?;
    Ok(Some(IssuedPair {
        access_token: auth
            .keys
            .issue_access(user.id.as_str(), user.role, user.token_version),
        refresh_token,
        expires_in: auth.keys.access_ttl.as_secs(),
    }))
}

fn invalid_refresh() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidToken,
        "the refresh token is invalid, expired or revoked",
    )
}

const REUSED: &str =
    "this refresh token was already used; every session from that login is revoked";

/// Exchanges a refresh token for a new pair. A token that was already exchanged
/// is being replayed: its whole family is revoked.
#[tracing::instrument(name = "auth.refresh", level = "debug", skip_all, err(level = "debug"))]
pub async fn refresh(auth: &Auth, token: &str) -> Result<IssuedPair, ApiError> {
    let hash = hash_opaque(token);
    let tokens = &auth.store.tokens;
    let Some(current) = tokens.refresh_by_hash(&hash).await? else {
        return Err(invalid_refresh());
    };
    if current.revoked || current.expires_at <= now() {
        return Err(invalid_refresh());
    }
    let reused = || async {
        let revoked = tokens.revoke_family(&current.family_id).await?;
        tracing::warn!(
            event = "refresh_token_reused", user_id = %current.user_id, family_id = %current.family_id,
            revoked, "a rotated refresh token was replayed; its family is revoked"
        );
        Err::<IssuedPair, ApiError>(ApiError::new(ErrorCode::RefreshTokenReused, REUSED))
    };
    // Rotated already: within the grace a retry (a lost answer, or parallel
    // refreshes of one token), after it a replay.
    let retry = match tokens.rotation_of(&hash).await? {
        Some(rotation) if within_grace(auth, &rotation) => true,
        Some(_) => return reused().await,
        None => false,
    };
    let users = &auth.store.users;
    let revoked = || async {
        tokens.revoke_family(&current.family_id).await?;
        Err::<IssuedPair, ApiError>(invalid_refresh())
    };
    // A token minted before logout-all, a password or role change or a disable
    // dies with the access tokens of its time.
    // Read from the database, not the cache: a role change or a disable whose
    // event this node missed must not be minted into a new pair.
    let user = match users.auth_facts_stored(&current.user_id).await? {
        Some(user) if !user.disabled && user.token_version == current.token_version => user,
        _ => return revoked().await,
    };
    let family = current.family_id.clone();
    let pair = if retry {
        retried(&current);
        minted(issue_pair(auth, &user, family, Parent::Retry(&current)).await?)?
    } else {
        match issue_pair(auth, &user, family.clone(), Parent::Rotation(&current)).await {
            Ok(Some(pair)) => pair,
            // Another refresh of this token won the rotation just now: a retry.
            Ok(None) => {
                retried(&current);
                minted(issue_pair(auth, &user, family, Parent::Retry(&current)).await?)?
            }
            // The token has a child already but no rotation record: a replay.
            Err(err) if err.code == ErrorCode::RefreshTokenReused => return reused().await,
            Err(err) => return Err(err),
        }
    };
    // A revocation may have run while the child was minted; it may have missed
    // the child. Look again (both `_id` or memory reads): if the parent or the
    // user's tokens were revoked meanwhile, the new pair dies with them.
    let parent_alive = tokens
        .refresh_by_hash(&hash)
        .await?
        .is_some_and(|p| !p.revoked);
    let user_alive = users
        .auth_facts_stored(&current.user_id)
        .await?
        .is_some_and(|u| !u.disabled && u.token_version == current.token_version);
    if !parent_alive || !user_alive {
        tracing::info!(event = "refresh_revoked_meanwhile", user_id = %current.user_id, family_id = %current.family_id);
        return revoked().await;
    }
    Ok(pair)
}

/// A pair from `issue_pair` with a parent whose rotation cannot be lost.
fn minted(pair: Option<IssuedPair>) -> Result<IssuedPair, ApiError> {
    pair.ok_or_else(ApiError::internal)
}

/// Whether a rotated token presented again is still within the retry grace.
fn within_grace(auth: &Auth, rotation: &RotationDoc) -> bool {
    let grace_ms = i64::try_from(auth.config.refresh_reuse_grace.as_millis()).unwrap_or(i64::MAX);
    rotation.rotated_at.is_some_and(|at| {
        now().timestamp_millis() <= at.timestamp_millis().saturating_add(grace_ms)
    })
}

fn retried(current: &RefreshDoc) {
    tracing::info!(
        event = "refresh_retried", user_id = %current.user_id, family_id = %current.family_id,
        "a refresh token was presented again within the grace; answered with a pair of its own"
    );
}

/// Revokes the family of `token` if it belongs to `user`; unknown tokens are ignored.
#[tracing::instrument(name = "auth.logout", level = "debug", skip_all, fields(user = %user.id), err(level = "debug"))]
pub async fn logout(auth: &Auth, user: &CurrentUser, token: &str) -> Result<(), ApiError> {
    let tokens = &auth.store.tokens;
    if let Some(doc) = tokens.refresh_by_hash(&hash_opaque(token)).await? {
        if doc.user_id == user.id {
            tokens.revoke_family(&doc.family_id).await?;
            tracing::info!(event = "logout", user_id = %user.id);
        } else {
            tracing::warn!(event = "forbidden", user_id = %user.id, "logout with another user's refresh token");
        }
    }
    Ok(())
}

/// Revokes the family of `token`, whoever it belongs to: holding the token is the
/// proof (the web session's logout, from its cookie). Unknown tokens are ignored.
#[tracing::instrument(
    name = "auth.logout_token",
    level = "debug",
    skip_all,
    err(level = "debug")
)]
pub async fn logout_token(auth: &Auth, token: &str) -> Result<(), ApiError> {
    let tokens = &auth.store.tokens;
    if let Some(doc) = tokens.refresh_by_hash(&hash_opaque(token)).await? {
        tokens.revoke_family(&doc.family_id).await?;
        tracing::info!(event = "logout", user_id = %doc.user_id);
    }
    Ok(())
}

/// Revokes every access and refresh token of the user.
#[tracing::instrument(name = "auth.revoke_everything", level = "debug", skip_all, fields(user = %user_id), err(level = "debug"))]
pub async fn revoke_everything(auth: &Auth, user_id: &UserId) -> Result<(), ApiError> {
    auth.store.users.bump_token_version(user_id).await?;
    auth.store.tokens.revoke_user(user_id).await?;
    auth.revoker.revoked(user_id);
    Ok(())
}

#[tracing::instrument(name = "auth.change_password", level = "debug", skip_all, fields(user = %user.id), err(level = "debug"))]
pub async fn change_password(
    auth: &Auth,
    user: &CurrentUser,
    current: &str,
    new: &str,
) -> Result<(), ApiError> {
    let doc = auth
        .store
        .users
        .by_id(&user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let current = Password::parse_for_login(current)
        .map_err(|m| ApiError::invalid_field("current_password", m))?;
    // Charged before hashing, refunded when the password verifies. Its own
    // counter (by user id): the login counters, which anyone can fill for a
    // username, must not lock the session's owner out of this. A wrong password
    // also counts as a login failure for the username.
    let charge = auth
        .throttles
        .password_change_per_user
        .charge(user.id.as_str())
        .await
        .map_err(|wait| ApiError::rate_limited(retry_after_secs(wait)))?;
    if !auth.hasher.verify(&current, &doc.password_hash).await? {
        charge.keep();
        auth.throttles
            .login_per_user
            .record(&throttle_key(&doc.username))
            .await;
        tracing::warn!(event = "password_change_failed", user_id = %user.id, "wrong current password");
        return Err(ApiError::invalid_field("current_password", "is incorrect"));
    }
    drop(charge);
    let new = Password::parse_new(new, &[&doc.username, &doc.display_name])
        .map_err(|m| ApiError::invalid_field("new_password", m))?;
    let hash = auth.hasher.hash(&new).await?;
    auth.store.users.set_password(&user.id, &hash).await?;
    auth.store.tokens.revoke_user(&user.id).await?;
    auth.revoker.revoked(&user.id);
    tracing::info!(event = "password_changed", user_id = %user.id, "every session revoked");
    Ok(())
}

/// Issues a single-use WebSocket ticket; returns it with its lifetime in seconds.
#[tracing::instrument(name = "auth.issue_ticket", level = "debug", skip_all, fields(user = %user.id), err(level = "debug"))]
pub async fn issue_ticket(auth: &Auth, user: &CurrentUser) -> Result<(String, u64), ApiError> {
    auth.rate_limits
        .check(&user.id, crate::rate_limits::Action::Ticket)
        .await?;
    let (ticket, hash) = new_opaque();
    let expires_at = DateTime::from_millis(now().timestamp_millis() + WS_TICKET_TTL_SECS * 1000);
    auth.store
        .tokens
        .insert_ticket(&TicketDoc {
            hash,
            user_id: user.id.clone(),
            token_version: user.token_version,
            expires_at,
        })
        .await?;
    Ok((ticket, WS_TICKET_TTL_SECS as u64))
}

/// Redeems a single-use WebSocket ticket for its user. The socket then lives as
/// long as an access token would; the client keeps it with `reauth`.
#[tracing::instrument(
    name = "auth.redeem_ticket",
    level = "debug",
    skip_all,
    err(level = "debug")
)]
pub async fn redeem_ticket(auth: &Auth, ticket: &str) -> Result<CurrentUser, ApiError> {
    let refused = || {
        ApiError::new(
            ErrorCode::InvalidToken,
            "the ticket is invalid, used or expired",
        )
    };
    let taken = auth
        .store
        .tokens
        .take_ticket(&hash_opaque(ticket))
        .await?
        .ok_or_else(refused)?;
    let user = auth
        .store
        .users
        .auth_facts_stored(&taken.user_id)
        .await?
        .filter(|u| !u.disabled && u.token_version == taken.token_version)
        .ok_or_else(refused)?;
    let ttl = i64::try_from(auth.keys.access_ttl.as_secs()).unwrap_or(i64::MAX);
    Ok(CurrentUser {
        id: user.id,
        username: user.username,
        role: user.role,
        token_version: user.token_version,
        token_expires_at: chrono::Utc::now().timestamp().saturating_add(ttl),
    })
}

/// Makes sure the admin named by `CONFAB_ADMIN_USERNAME` exists with the admin role.
///
/// An existing account is promoted only when its password verifies against
/// `CONFAB_ADMIN_PASSWORD`: anyone may have registered that name before it was
/// configured (or on a node without the setting), and promoting their account
/// would hand them the server. Otherwise a warning event is logged and the
/// account stays as it is.
pub async fn bootstrap_admin(auth: &Auth) -> Result<(), ApiError> {
    let (Some(name), Some(password)) = (&auth.config.admin_username, &auth.config.admin_password)
    else {
        return Ok(());
    };
    let username = Username::parse(name).map_err(|m| {
        tracing::error!("CONFAB_ADMIN_USERNAME {m}");
        ApiError::invalid_field("CONFAB_ADMIN_USERNAME", m)
    })?;
    match auth.store.users.by_username(username.as_str()).await? {
        Some(user) if user.role == Role::Admin => Ok(()),
        Some(user) => {
            let verified = match Password::parse_for_login(password.expose_secret()) {
                Ok(password) => auth.hasher.verify(&password, &user.password_hash).await?,
                Err(_) => false,
            };
            if !verified {
                tracing::warn!(
                    event = "admin_bootstrap_refused", user_id = %user.id, username = %user.username,
                    "CONFAB_ADMIN_USERNAME names an existing account whose password is not CONFAB_ADMIN_PASSWORD; it was not promoted"
                );
                return Ok(());
            }
            auth.store.users.set_role(&user.id, Role::Admin).await?;
            tracing::info!(event = "admin_bootstrapped", username = %user.username, "existing user promoted to admin");
            Ok(())
        }
        None => {
            let password = Password::parse_new(password.expose_secret(), &[username.as_str()])
                .map_err(|m| {
                    tracing::error!("CONFAB_ADMIN_PASSWORD {m}");
                    ApiError::invalid_field("CONFAB_ADMIN_PASSWORD", m)
                })?;
            let display = DisplayName::parse(username.as_str())
                .map_err(|m| ApiError::invalid_field("CONFAB_ADMIN_USERNAME", m))?;
            let user = create_user(auth, username, display, &password, Role::Admin).await?;
            tracing::info!(event = "admin_bootstrapped", username = %user.username, "admin created");
            Ok(())
        }
    }
}

/// Whether `username` (already lowercased) is the configured bootstrap admin's:
/// registration refuses it, so nobody can claim it before the admin exists.
fn reserved_for_admin(auth: &Auth, username: &str) -> bool {
    auth.config
        .admin_username
        .as_deref()
        .and_then(|name| Username::parse(name).ok())
        .is_some_and(|name| name.as_str() == username)
}
