//! The routes, one module per resource.

pub(crate) mod batches;
pub(crate) mod buckets;
pub(crate) mod health;
pub(crate) mod keys;
pub(crate) mod namespaces;
pub(crate) mod objects;
pub(crate) mod tasks;
pub(crate) mod uploads;

use actix_web::web;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(namespaces::create)
        .service(namespaces::get)
        .service(keys::list)
        .service(keys::revoke)
        .service(buckets::create)
        .service(buckets::list)
        .service(buckets::get)
        .service(crate::browser::create_session)
        .service(uploads::create)
        .service(uploads::create_batch)
        .service(uploads::list)
        .service(uploads::get)
        .service(uploads::cancel)
        .service(uploads::parts)
        .service(uploads::confirm_batch)
        .service(uploads::confirm)
        .service(batches::create)
        .service(batches::submit)
        .service(batches::get)
        .service(objects::create)
        .service(objects::list)
        .service(objects::get)
        .service(objects::delete)
        .service(tasks::list)
        .service(tasks::get)
        .service(tasks::cancel);
}
