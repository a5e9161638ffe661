//! The source spec, Swagger UI (utoipa-swagger-ui's vendored files, served through its
//! framework-agnostic `serve`) and ReDoc (its standalone bundle, vendored in `assets/redoc/`).

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Redirect};
use poem::{IntoResponse, Request, Response, handler};

use crate::error::AppError;
use crate::spec::ApiDocument;

#[handler]
pub fn spec_yaml(Data(spec): Data<&Arc<ApiDocument>>) -> Response {
    spec.yaml.with_content_type("application/yaml").into_response()
}

#[handler]
pub fn spec_json(Data(spec): Data<&Arc<ApiDocument>>) -> Response {
    spec.json.clone().with_content_type("application/json").into_response()
}

pub fn swagger_config() -> Arc<utoipa_swagger_ui::Config<'static>> {
    Arc::new(
        utoipa_swagger_ui::Config::new(["/openapi.json"])
            .try_it_out_enabled(true)
            .persist_authorization(true)
            .display_operation_id(true),
    )
}

#[handler]
pub fn swagger_ui(
    req: &Request,
    Data(config): Data<&Arc<utoipa_swagger_ui::Config<'static>>>,
) -> poem::Result<Response> {
    // Swagger UI's page loads its assets relative to itself, so it must be served under `/docs/`.
    let Some(file) = req.uri().path().strip_prefix("/docs/") else {
        return Ok(Redirect::permanent("/docs/").into_response());
    };
    match utoipa_swagger_ui::serve(file, config.clone()) {
        Ok(Some(asset)) => {
            Ok(asset.bytes.to_vec().with_content_type(asset.content_type).with_status(StatusCode::OK).into_response())
        }
        Ok(None) => Err(AppError::NotFound { kind: "file", id: req.uri().path().to_string() }.into()),
        Err(e) => Err(AppError::Internal(format!("swagger ui: {e}")).into()),
    }
}

/// ReDoc's page: the same document, read-only, in three panels.
const REDOC_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Commerce API - ReDoc</title>
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="/redoc/redoc.standalone.js"></script>
</body>
</html>
"#;

const REDOC_BUNDLE: &[u8] = include_bytes!("../../assets/redoc/redoc.standalone.js");

#[handler]
pub fn redoc(req: &Request) -> poem::Result<Response> {
    match req.uri().path() {
        "/redoc" | "/redoc/" => Ok(REDOC_PAGE.with_content_type("text/html; charset=utf-8").into_response()),
        "/redoc/redoc.standalone.js" => Ok(REDOC_BUNDLE
            .with_content_type("text/javascript; charset=utf-8")
            .with_header("cache-control", "public, max-age=86400")
            .into_response()),
        other => Err(AppError::NotFound { kind: "file", id: other.to_string() }.into()),
    }
}
