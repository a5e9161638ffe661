//! Request bodies of any documented media type, and the byte strings they can carry.
//!
//! [`JsonBody`](crate::JsonBody) covers the common case, one `application/json` body. An operation
//! that documents anything else (several media types, a form, a multipart upload, text, octets, an
//! optional body) takes a [`Body`]: it matches the request's `Content-Type` against the documented
//! media types (415 naming them when none matches), reads the body as that kind of media, and hands
//! the generated glue a [`Received`] to turn into JSON ([`crate::Validation::body_value`]), judge
//! against the document and decode into the operation's type.

use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use poem::http::StatusCode;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::Value;

use crate::BodyRejection;

/// Bytes carried in JSON as a base64 string (`format: byte`, and `format: binary` or
/// `contentMediaType` members, which a multipart file part fills).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Octets(pub Vec<u8>);

impl Octets {
    pub fn encode(&self) -> String {
        STANDARD.encode(&self.0)
    }

    pub fn decode(text: &str) -> Result<Self, base64::DecodeError> {
        STANDARD.decode(text.trim()).map(Self)
    }
}

impl serde::Serialize for Octets {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

impl<'de> serde::Deserialize<'de> for Octets {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        Self::decode(&text).map_err(|e| serde::de::Error::custom(format!("not base64: {e}")))
    }
}

impl Type for Octets {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> std::borrow::Cow<'static, str> {
        "string_byte".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "byte")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for Octets {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => {
                Self::decode(&text).map_err(|e| ParseError::custom(format!("not base64: {e}")))
            }
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ParseFromParameter for Octets {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::decode(value).map_err(|e| ParseError::custom(format!("not base64: {e}")))
    }
}

impl ToJSON for Octets {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.encode()))
    }
}

/// How a media type's body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Json,
    Form,
    Multipart,
    Text,
    Octets,
}

impl Kind {
    /// The kind of body a (documented or received) media type carries.
    pub fn of(media_type: &str) -> Self {
        let essence = essence(media_type);
        if essence == "application/json" || essence.ends_with("+json") {
            Self::Json
        } else if essence == "application/x-www-form-urlencoded" {
            Self::Form
        } else if essence.starts_with("multipart/") {
            Self::Multipart
        } else if essence.starts_with("text/")
            || essence == "application/xml"
            || essence.ends_with("+xml")
            || essence == "application/yaml"
        {
            Self::Text
        } else {
            Self::Octets
        }
    }
}

/// `Text/Plain; charset=utf-8` -> `text/plain`.
pub fn essence(media_type: &str) -> String {
    media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// Whether a received media type is one a documented media type (or range: `text/*`, `*/*`) admits.
pub fn media_matches(documented: &str, received: &str) -> bool {
    let (documented, received) = (essence(documented), essence(received));
    match documented.split_once('/') {
        _ if documented == received || documented == "*/*" => true,
        Some((ty, "*")) => received.split_once('/').is_some_and(|(t, _)| t == ty),
        _ => false,
    }
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// A body as read for its media type, before it is judged and typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Json(Value),
    /// `name=value` pairs, decoded, in order.
    Form(Vec<(String, String)>),
    Multipart(Vec<Part>),
    Text(String),
    Octets(Bytes),
}

/// A body matched to one documented media type.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// Index of the matched media type in [`BodySpec::MEDIA`].
    pub media: usize,
    /// The media type the client sent.
    pub content_type: String,
    pub content: Content,
}

/// What generated code says about an operation's request body.
pub trait BodySpec: Send + Sync + 'static {
    /// The documented media types, in document order.
    const MEDIA: &'static [&'static str];
    const REQUIRED: bool;
    const DESCRIPTION: Option<&'static str> = None;
    /// The schema of each media type, in the order of [`Self::MEDIA`].
    fn schemas() -> Vec<MetaSchemaRef>;
    fn register(registry: &mut Registry);
}

/// A request body of any documented media type; `None` when an optional body is absent.
pub struct Body<S> {
    pub received: Option<Received>,
    _spec: PhantomData<fn() -> S>,
}

impl<S> Body<S> {
    pub fn into_received(self) -> Option<Received> {
        self.received
    }
}

fn unsupported(detail: String) -> BodyRejection {
    BodyRejection {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: "unsupported_media_type",
        detail,
        problems: Vec::new(),
        total: 0,
    }
}

fn bad(code: &'static str, detail: String) -> BodyRejection {
    BodyRejection { status: StatusCode::BAD_REQUEST, code, detail, problems: Vec::new(), total: 0 }
}

impl<'a, S: BodySpec> ApiExtractor<'a> for Body<S> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        S::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: S::DESCRIPTION,
            content: S::MEDIA
                .iter()
                .zip(S::schemas())
                .map(|(media, schema)| MetaMediaType { content_type: media, schema })
                .collect(),
            required: S::REQUIRED,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let content_type = request.content_type().map(str::to_string);
        let bytes = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        let Some(content_type) = content_type.filter(|c| !c.is_empty()) else {
            if bytes.is_empty() && !S::REQUIRED {
                return Ok(Self { received: None, _spec: PhantomData });
            }
            let documented = S::MEDIA.join(", ");
            return Err(
                unsupported(format!("the request has no Content-Type; the operation accepts {documented}")).into()
            );
        };
        let Some(media) = S::MEDIA.iter().position(|m| media_matches(m, &content_type)) else {
            let documented = S::MEDIA.join(", ");
            return Err(unsupported(format!(
                "the body's media type {:?} is not one the operation accepts ({documented})",
                essence(&content_type)
            ))
            .into());
        };
        let content = match Kind::of(&content_type) {
            Kind::Json => {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return Err(
                        bad("empty_body", "the request body is empty; a JSON document is required".into()).into()
                    );
                }
                Content::Json(
                    serde_json::from_slice(&bytes)
                        .map_err(|e| bad("invalid_json", format!("the request body is not valid JSON: {e}")))?,
                )
            }
            Kind::Form => Content::Form(
                serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                    .map_err(|e| bad("invalid_form", format!("the request body is not a valid form: {e}")))?,
            ),
            Kind::Multipart => Content::Multipart(read_multipart(&content_type, bytes).await?),
            Kind::Text => Content::Text(
                String::from_utf8(bytes)
                    .map_err(|_| bad("invalid_text", "the request body is not UTF-8 text".into()))?,
            ),
            Kind::Octets => Content::Octets(Bytes::from(bytes)),
        };
        Ok(Self { received: Some(Received { media, content_type, content }), _spec: PhantomData })
    }
}

async fn read_multipart(content_type: &str, bytes: Vec<u8>) -> Result<Vec<Part>, BodyRejection> {
    let invalid =
        |e: &dyn std::fmt::Display| bad("invalid_multipart", format!("the multipart body cannot be read: {e}"));
    let boundary = multer::parse_boundary(content_type).map_err(|e| invalid(&e))?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(bytes)) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| invalid(&e))? {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let content_type = field.content_type().map(|m| m.to_string());
        let data = field.bytes().await.map_err(|e| invalid(&e))?;
        parts.push(Part { name, file_name, content_type, data });
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_ranges_admit_their_subtypes() {
        assert!(media_matches("text/*", "text/csv; charset=utf-8"));
        assert!(media_matches("*/*", "image/png"));
        assert!(media_matches("application/json", "Application/JSON"));
        assert!(!media_matches("text/*", "application/json"));
        assert!(!media_matches("application/json", "application/merge-patch+json"));
    }

    #[test]
    fn kinds_follow_the_media_type() {
        assert_eq!(Kind::of("application/merge-patch+json"), Kind::Json);
        assert_eq!(Kind::of("application/x-www-form-urlencoded"), Kind::Form);
        assert_eq!(Kind::of("multipart/form-data; boundary=x"), Kind::Multipart);
        assert_eq!(Kind::of("text/csv"), Kind::Text);
        assert_eq!(Kind::of("application/vnd.api+xml"), Kind::Text);
        assert_eq!(Kind::of("image/png"), Kind::Octets);
    }

    #[test]
    fn octets_travel_as_base64() {
        let octets = Octets(vec![0, 255, 10]);
        let json = serde_json::to_value(&octets).unwrap();
        assert_eq!(json, Value::from("AP8K"));
        assert_eq!(serde_json::from_value::<Octets>(json).unwrap(), octets);
        assert!(serde_json::from_value::<Octets>(Value::from("not base64!")).is_err());
    }
}
