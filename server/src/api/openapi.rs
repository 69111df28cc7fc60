//! The error half of the OpenAPI document, generated from what every operation shares
//! so it cannot drift from the server: which problems an operation can answer follows
//! from its shape (protected, takes a body, takes parameters, names a resource), and
//! every error is `application/problem+json`.

use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder, Schema};

use super::problem::PROBLEM_JSON;

/// The answers any operation of a given shape can give, beside its own.
const SHARED: &[(&str, Shape, &str)] = &[
    ("400", Shape::Input, "The request cannot be read: malformed JSON, query or header"),
    ("401", Shape::Protected, "No valid bearer token: sign in (or refresh) and retry"),
    ("403", Shape::Protected, "The caller's role may not do this"),
    ("404", Shape::Resource, "No such resource, or the caller may not see it"),
    ("413", Shape::Body, "The body is larger than the server accepts"),
    ("415", Shape::Body, "The body is not `application/json`"),
    ("422", Shape::Input, "Fields that are well formed but invalid, each named in `errors`"),
    ("503", Shape::Any, "Overloaded or the database is briefly unavailable: retry after `Retry-After` seconds"),
];

/// Which operations an answer applies to.
#[derive(Clone, Copy)]
enum Shape {
    Any,
    Protected,
    Resource,
    Body,
    Input,
}

/// Adds the shared problem answers and declares every error as problem+json.
pub struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_path_params = path.contains('{');
            for op in
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
            {
                complete(path, op, has_path_params);
            }
        }
    }
}

fn complete(path: &str, op: &mut Operation, has_path_params: bool) {
    let protected = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let body = op.request_body.as_ref().is_some_and(takes_json);
    let params = op.parameters.iter().flatten().any(|p| match p {
        RefOr::T(p) => matches!(p.parameter_in, ParameterIn::Query | ParameterIn::Header),
        RefOr::Ref(_) => true,
    });
    for p in op.parameters.iter_mut().flatten() {
        if let RefOr::T(p) = p
            && p.name.eq_ignore_ascii_case("Idempotency-Key")
        {
            p.schema = Some(RefOr::T(Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(255))
                    .pattern(Some("^[!-~]+$"))
                    .build(),
            )));
        }
    }
    // The health and metrics endpoints answer no problems of their own but 503.
    let public_probe = path.starts_with("/health") || path == "/metrics";
    for (status, shape, description) in SHARED {
        let applies = match shape {
            Shape::Any => !public_probe || *status == "503",
            Shape::Protected => protected,
            Shape::Resource => has_path_params,
            Shape::Body => body,
            Shape::Input => body || params || has_path_params,
        };
        if applies {
            op.responses.responses.entry((*status).to_owned()).or_insert_with(|| RefOr::T(problem(description)));
        }
    }
    for (status, response) in op.responses.responses.iter_mut() {
        if (status.starts_with('4') || status.starts_with('5'))
            && let RefOr::T(r) = response
        {
            as_problem(r);
        }
    }
}

fn takes_json(body: &RefOr<RequestBody>) -> bool {
    match body {
        RefOr::T(b) => b.content.keys().any(|k| k.contains("json")),
        RefOr::Ref(_) => true,
    }
}

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
        .build()
}

/// An error answer declared as JSON is a problem document.
fn as_problem(r: &mut Response) {
    if let Some(content) = r.content.shift_remove("application/json") {
        r.content.insert(PROBLEM_JSON.to_owned(), content);
    }
    if r.content.is_empty() {
        r.content.insert(
            PROBLEM_JSON.to_owned(),
            RefOr::T(ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi;

    #[test]
    fn every_error_is_a_problem_and_protected_operations_declare_401_and_403() {
        let doc = crate::api::ApiDoc::openapi();
        let mut checked = 0;
        for (path, item) in &doc.paths.paths {
            for op in [&item.get, &item.post, &item.put, &item.patch, &item.delete].into_iter().flatten() {
                for (status, r) in &op.responses.responses {
                    if let RefOr::T(r) = r
                        && (status.starts_with('4') || status.starts_with('5'))
                    {
                        assert!(r.content.contains_key(PROBLEM_JSON), "{path} {status} is not problem+json");
                        assert!(!r.content.contains_key("application/json"), "{path} {status} also says JSON");
                        checked += 1;
                    }
                }
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    for s in ["401", "403", "503"] {
                        assert!(op.responses.responses.contains_key(s), "{path} lacks {s}");
                    }
                }
                if op.request_body.is_some() {
                    for s in ["400", "415", "422"] {
                        assert!(op.responses.responses.contains_key(s), "{path} lacks {s}");
                    }
                }
            }
        }
        assert!(checked > 100, "only {checked} error answers found");
    }
}
