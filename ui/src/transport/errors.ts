import type { ApiErrorBody } from '../api/types';

/** The one error type the UI handles: `{code, message}`, thrown by every transport call. */
export class ApiError extends Error implements ApiErrorBody {
  readonly code: string;
  /** The refused argument or setting, when the backend named one. */
  readonly field?: string;

  constructor(code: string, message: string, field?: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    if (field !== undefined) this.field = field;
  }

  toJSON(): ApiErrorBody {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }
}

function isErrorBody(value: unknown): value is ApiErrorBody {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ApiErrorBody).code === 'string' &&
    typeof (value as ApiErrorBody).message === 'string'
  );
}

/** `{code, message, field?}` or `{error: {code, message, field?}}` as an ApiError; null for anything else. */
export function fromErrorBody(value: unknown): ApiError | null {
  const make = (body: ApiErrorBody) =>
    new ApiError(body.code, body.message, typeof body.field === 'string' ? body.field : undefined);
  if (isErrorBody(value)) return make(value);
  const inner = typeof value === 'object' && value !== null ? (value as { error?: unknown }).error : undefined;
  return isErrorBody(inner) ? make(inner) : null;
}

/** Turns anything thrown or returned as an error (a `{code, message}`, a string, an Error) into an ApiError. */
export function toApiError(value: unknown, fallbackCode = 'error'): ApiError {
  if (value instanceof ApiError) return value;
  const body = fromErrorBody(value);
  if (body) return body;
  if (typeof value === 'string') return new ApiError(fallbackCode, value);
  if (value instanceof Error) return new ApiError(fallbackCode, value.message || String(value));
  return new ApiError(fallbackCode, `unexpected error: ${safeString(value)}`);
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
