//! Parameters poem-openapi cannot read: objects, `deepObject`, `spaceDelimited`/`pipeDelimited`,
//! `label`/`matrix`, non-exploded forms, unions, parameters described with `content`. A [`Styled`]
//! parameter is read by the document's own reader (the style and schema of the operation's
//! parameter, in a [`Validation`]) into JSON, then decoded with serde into its Rust type.

use std::marker::PhantomData;

use poem::Request;
use poem::http::StatusCode;
use poem_openapi::registry::{MetaParamIn, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::BodyRejection;
use crate::validation::{Problem, Validation};

/// What generated code says about one parameter read by [`Styled`].
pub trait ParamSpec: Send + Sync + 'static {
    /// The operation's name in the document (its operationId, or the derived name).
    const OPERATION: &'static str;
    const NAME: &'static str;
    const IN: MetaParamIn;
    /// The document's rules, which hold the parameter's style and schema.
    fn validation() -> &'static Validation;
}

/// A parameter of type `T` read as its documented style says (`T` is `Option<_>` when optional).
pub struct Styled<T, P> {
    pub value: T,
    _spec: PhantomData<fn() -> P>,
}

impl<T, P> Styled<T, P> {
    pub fn into_inner(self) -> T {
        self.value
    }
}

fn invalid(name: &str, detail: String) -> BodyRejection {
    BodyRejection {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_parameter",
        detail: format!("{name}: {detail}"),
        problems: vec![Problem { pointer: None, parameter: Some(name.to_string()), detail }],
        total: 1,
    }
}

impl<'a, T: Type + DeserializeOwned + Send, P: ParamSpec> ApiExtractor<'a> for Styled<T, P> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];
    const PARAM_IS_REQUIRED: bool = T::IS_REQUIRED;
    type ParamType = T;
    type ParamRawType = T::RawValueType;

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn param_in() -> Option<MetaParamIn> {
        Some(P::IN)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(T::schema_ref())
    }

    fn param_raw_type(&self) -> Option<&Self::ParamRawType> {
        self.value.as_raw_value()
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut poem::RequestBody,
        options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let value = P::validation().read_parameter(P::OPERATION, P::NAME, request);
        if value.is_none()
            && let Some(default) = options.default_value
        {
            return Ok(Self { value: default(), _spec: PhantomData });
        }
        if value.is_none() && T::IS_REQUIRED {
            return Err(invalid(P::NAME, "the parameter is required".into()).into());
        }
        let value =
            serde_json::from_value::<T>(value.unwrap_or(Value::Null)).map_err(|e| invalid(P::NAME, e.to_string()))?;
        Ok(Self { value, _spec: PhantomData })
    }
}
