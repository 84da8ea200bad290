//! The dashboard: a page at `/` and its assets under `/dashboard/`, compiled into the
//! binary so `qm serve` needs nothing beside it and nothing from a CDN.
//!
//! The page holds no data and no secret: it asks the API with the token the operator
//! types, so every rule about who sees what is the API's (and enforced there).
//! `app.js`, `app.css` and `index.html` are written by hand; `vendor/` holds the chart
//! library copied from its npm package by `dashboard/build` (see README.md).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use actix_web::{HttpResponse, web};

use super::ApiError;

/// (path under /dashboard/, content type, bytes)
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/app.css"),
    ),
    (
        "vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/vendor/uPlot.iife.min.js"),
    ),
    (
        "vendor/uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/vendor/uPlot.min.css"),
    ),
];

const INDEX: &str = include_str!("dashboard/index.html");

/// Only this origin's scripts, styles and connections (the WebSocket included): a
/// revealed credential cannot be sent anywhere by injected markup.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'";

fn page(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // The assets change with the binary; revalidating is cheap on loopback.
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(body)
}

pub async fn index() -> HttpResponse {
    page("text/html; charset=utf-8", INDEX)
}

pub async fn asset(path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let wanted = path.into_inner();
    ASSETS
        .iter()
        .find(|(name, _, _)| *name == wanted)
        .map(|(_, content_type, body)| page(content_type, body))
        .ok_or_else(|| ApiError::not_found("dashboard asset", wanted))
}

/// The page and its assets; not API routes, so not in the OpenAPI document.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/dashboard/{path:.*}", web::get().to(asset));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_page_names_is_served() {
        for (name, _, body) in ASSETS {
            assert!(!body.is_empty(), "{name} is empty");
        }
        for needed in [
            "app.js",
            "app.css",
            "vendor/uPlot.iife.min.js",
            "vendor/uPlot.min.css",
        ] {
            assert!(
                INDEX.contains(&format!("/dashboard/{needed}")),
                "index.html does not load {needed}"
            );
        }
    }
}
