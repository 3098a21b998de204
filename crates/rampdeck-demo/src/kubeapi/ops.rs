//! The write verbs on objects and their status subresource: create (POST), update (PUT) and
//! delete, with the API server's preconditions (AlreadyExists, stale resourceVersion,
//! delete preconditions) and its rule that each endpoint changes only its own part.

use std::sync::Mutex;

use serde_json::Value;

use super::error::{ApiError, FieldError};
use super::resource::Kind;
use super::store::{meta_rv, Change, Committed, Key, Operation, Store, Subresource, Writer};
use super::validate::{self, FieldValidation};

/// What every write request carries besides its body.
#[derive(Debug, Default)]
pub struct WriteOptions {
    pub manager: String,
    pub dry_run: bool,
    pub validation: FieldValidation,
    /// `Warning` headers for the response (unknown fields under `fieldValidation=Warn`).
    pub warnings: Mutex<Vec<String>>,
}

impl WriteOptions {
    /// Validates `obj` for storing as `name`, pruning unknown fields per `validation`.
    pub fn admit(&self, kind: Kind, name: &str, obj: &mut Value) -> Result<(), ApiError> {
        super::builtin::default(kind, obj);
        validate::check_object(kind, name, obj)?;
        let unknown = validate::prune(kind, obj);
        if unknown.is_empty() {
            return Ok(());
        }
        let fields: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field {f:?}"))
            .collect();
        match self.validation {
            FieldValidation::Strict => Err(ApiError::BadRequest(format!(
                "{k} in version \"v1\" cannot be handled as a {k}: strict decoding error: {}",
                fields.join(", "),
                k = kind.kind()
            ))),
            FieldValidation::Warn => {
                self.warnings
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(fields);
                Ok(())
            }
            FieldValidation::Ignore => Ok(()),
        }
    }

    /// `admit` for an update of `cur`, with the built-in kinds' immutable fields.
    pub fn admit_update(
        &self,
        kind: Kind,
        name: &str,
        cur: &Value,
        new: &mut Value,
    ) -> Result<(), ApiError> {
        self.admit(kind, name, new)?;
        super::builtin::check_update(kind, name, cur, new)
    }

    pub fn writer(&self, operation: Operation, subresource: Subresource) -> Writer<'_> {
        Writer {
            manager: &self.manager,
            operation,
            subresource,
            dry_run: self.dry_run,
        }
    }
}

/// POST to a collection.
pub fn create(
    store: &Store,
    kind: Kind,
    namespace: &str,
    mut body: Value,
    opts: &WriteOptions,
) -> Result<Committed, ApiError> {
    validate::check_type(kind, &body)?;
    validate::check_identity(&body, namespace, None)?;
    let name = match body["metadata"]["name"].as_str().filter(|n| !n.is_empty()) {
        Some(n) => n.to_owned(),
        None => match body["metadata"]["generateName"]
            .as_str()
            .filter(|n| !n.is_empty())
        {
            Some(prefix) => {
                // As the API server does, the prefix is cut so the name fits in 63 characters.
                let prefix: String = prefix.chars().take(58).collect();
                format!("{prefix}{}", random_suffix(store.resource_version()))
            }
            None => {
                return Err(ApiError::Invalid {
                    kind,
                    name: String::new(),
                    errors: vec![FieldError::required(
                        "metadata.name",
                        "name or generateName is required",
                    )],
                })
            }
        },
    };
    // Status comes only through the status subresource.
    if let Some(m) = body.as_object_mut() {
        m.remove("status");
    }
    let key = Key::new(kind, namespace, &name);
    store.write(
        &key,
        opts.writer(Operation::Update, Subresource::Main),
        |cur| {
            if cur.is_some() {
                return Err(ApiError::AlreadyExists {
                    kind,
                    name: name.clone(),
                });
            }
            let mut body = body;
            opts.admit(kind, &name, &mut body)?;
            Ok(Change::Put(body))
        },
    )
}

/// Five characters like the API server's generateName suffixes.
fn random_suffix(salt: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = rampdeck_base::rng::splitmix64(nanos ^ salt.rotate_left(17));
    (0..5)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// Fails unless the body's metadata.resourceVersion is the stored one. Custom resources
/// require it on update; a patch may leave it out.
pub fn check_precondition(
    key: &Key,
    body: &Value,
    current: &Value,
    required: bool,
) -> Result<(), ApiError> {
    match body["metadata"]["resourceVersion"].as_str().filter(|s| !s.is_empty()) {
        None if required => Err(ApiError::Invalid {
            kind: key.kind,
            name: key.name.clone(),
            errors: vec![FieldError::invalid(
                "metadata.resourceVersion",
                &Value::String("0x0".to_owned()),
                "must be specified for an update",
            )],
        }),
        None => Ok(()),
        Some(rv) if rv.parse::<u64>().ok() == Some(meta_rv(current)) => Ok(()),
        Some(_) => Err(ApiError::Conflict {
            kind: key.kind,
            name: key.name.clone(),
            detail: "the object has been modified; please apply your changes to the latest version and try again".to_owned(),
        }),
    }
}

/// The object a write to `sub` produces from `current` and the written object: the main
/// resource keeps the stored status, the status subresource changes only status.
pub fn scoped(current: &Value, written: Value, sub: Subresource) -> Value {
    match sub {
        Subresource::Main => {
            let mut new = written;
            if let Some(m) = new.as_object_mut() {
                match current.get("status") {
                    Some(s) => m.insert("status".to_owned(), s.clone()),
                    None => m.remove("status"),
                };
            }
            new
        }
        Subresource::Status => {
            let mut new = current.clone();
            if let Some(m) = new.as_object_mut() {
                match written.get("status") {
                    Some(s) if !s.is_null() => m.insert("status".to_owned(), s.clone()),
                    _ => m.remove("status"),
                };
            }
            new
        }
    }
}

/// PUT to an object or its status.
pub fn update(
    store: &Store,
    key: &Key,
    body: Value,
    sub: Subresource,
    opts: &WriteOptions,
) -> Result<Committed, ApiError> {
    validate::check_type(key.kind, &body)?;
    validate::check_identity(&body, &key.namespace, Some(&key.name))?;
    store.write(key, opts.writer(Operation::Update, sub), |cur| {
        let cur = cur.ok_or_else(|| not_found(key))?;
        check_precondition(key, &body, cur, true)?;
        let mut new = scoped(cur, body, sub);
        opts.admit_update(key.kind, &key.name, cur, &mut new)?;
        Ok(Change::Put(new))
    })
}

/// Removes an object at once, honouring `preconditions` in DeleteOptions. The DELETE verb,
/// with grace periods and propagation policies, is `deletion::delete`.
pub fn delete(
    store: &Store,
    key: &Key,
    options: Option<&Value>,
    opts: &WriteOptions,
) -> Result<Committed, ApiError> {
    let pre = options.map(|o| &o["preconditions"]);
    store.write(
        key,
        opts.writer(Operation::Update, Subresource::Main),
        |cur| {
            let cur = cur.ok_or_else(|| not_found(key))?;
            if let Some(pre) = pre {
                check_delete_preconditions(key, pre, cur)?;
            }
            Ok(Change::Delete)
        },
    )
}

/// DeleteOptions' `preconditions` (uid, resourceVersion) against the stored object.
pub fn check_delete_preconditions(key: &Key, pre: &Value, cur: &Value) -> Result<(), ApiError> {
    let conflict = |detail: String| ApiError::Conflict {
        kind: key.kind,
        name: key.name.clone(),
        detail,
    };
    if let Some(uid) = pre["uid"].as_str() {
        let have = cur["metadata"]["uid"].as_str().unwrap_or("");
        if uid != have {
            return Err(conflict(format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"
            )));
        }
    }
    if let Some(rv) = pre["resourceVersion"].as_str() {
        let have = meta_rv(cur);
        if rv.parse::<u64>().ok() != Some(have) {
            return Err(conflict(format!(
                "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({have}). The object might have been modified"
            )));
        }
    }
    Ok(())
}

pub fn not_found(key: &Key) -> ApiError {
    ApiError::NotFound {
        kind: key.kind,
        name: key.name.clone(),
    }
}
