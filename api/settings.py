"""Settings of every Zhengyin command, from ``ZHENGYIN_*`` variables and a TOML file.

Precedence: environment variables, then the TOML file (``ZHENGYIN_CONFIG``, else
``zhengyin.toml`` in the working directory), then the embedded defaults, which run a
development service on SQLite with a local file store under ``ZHENGYIN_DATA_DIR``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from zhengyin.core.errors import ZhengyinError
from zhengyin.keys import KeyStoreConfig

__all__ = ["Settings", "SettingsError"]

_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})  # noqa: S104 - names


class SettingsError(ZhengyinError):
    """The configuration cannot be used; the message says which setting to change."""

    code = "settings.invalid"



def _config_file() -> Path | None:
    explicit = os.environ.get("ZHENGYIN_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise SettingsError(f"ZHENGYIN_CONFIG names {path}, which is not a file")
        return path
    local = Path("zhengyin.toml")
    return local if local.is_file() else None


class Settings(BaseSettings):
    """One settings object, checked at start-up; see docs/operations.md, Configuration."""

    model_config = SettingsConfigDict(env_prefix="ZHENGYIN_", extra="forbid",
                                      validate_default=True)

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("zhengyin-data")
    database_url: str | None = Field(default=None, description="default: SQLite in data_dir")
    file_store_dir: Path | None = Field(default=None, description="default: data_dir/files")

    keystore: Literal["software", "pkcs11"] = "software"
    kek: SecretStr | None = Field(default=None, description="base64 or hex, 32 bytes")
    kek_file: Path | None = Field(default=None, description="default (dev): data_dir/kek")
    pkcs11_module: str | None = None
    pkcs11_token: str | None = None
    pkcs11_pin: SecretStr | None = None
    pkcs11_pin_file: Path | None = None

    public_base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    pki_organisation: str = "Zhengyin Development PKI"
    tsa_url: str | None = Field(default=None, description="external RFC 3161 TSA for signing")
    tsa_public: bool = Field(default=False, description="let anonymous callers use /tsa")

    holder_jwks_url: str | None = Field(default=None, description="OIDC provider's JWKS URL")
    holder_issuer: str | None = Field(default=None, description="expected 'iss' of holder JWTs")
    holder_audience: str = "zhengyin"
    holder_code_claim: str = Field(default="holder_code", description="claim with the ID number")
    holder_kind_claim: str = "holder_kind"
    holder_dev_tokens: bool | None = Field(
        default=None, description="accept locally minted holder tokens (default: development)")

    consent_max_days: int = Field(default=90, ge=1, le=3650,
                                  description="longest a holder's consent may last")
    use_code_minutes: int = Field(default=10, ge=1, le=1440)
    agent_grant_max_days: int = Field(default=365, ge=1, le=3650,
                                      description="longest an agent grant may last")
    display_qr_minutes: int = Field(default=5, ge=1, le=60)
    check_rate_per_minute: int = Field(default=6000, ge=1,
                                       description="checks per intake client per minute")
    check_threads: int = Field(default=4, ge=1, le=64,
                               description="checks run at once per process; more wait")
    platform_name: str = Field(default="证印电子证照平台",
                               description="the organisation operating this registry")
    platform_credit_code: str = Field(default="12110105MB00000092",
                                      description="its unified social credit code")

    max_request_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_pdf_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    audit_checkpoint_every: int = Field(default=1000, ge=1)
    client_cache_seconds: float = Field(
        default=5.0, ge=0, le=300, description="how long a process trusts an API client "
        "credential it authenticated; a client disabled or rotated elsewhere is refused "
        "within this time (0: look it up on every request)")
    audit_chaining: Literal["background", "inline", "external"] = Field(
        default="background", description="where a server links committed audit records "
        "into the chain: a background thread (in the supervisor when serving with several "
        "workers, else in the process), inline after each commit, or external (another "
        "process does: what the supervisor tells its workers). The CLI is always inline")
    workers: int = Field(default=0, ge=0, description="signing processes; 0 = one per core")
    stamp_job_lease_seconds: float = Field(
        default=30.0, ge=1, le=3600, description="a queued or running stamp job whose process "
        "has not said it is alive for this long is ended (its process died)")
    verify_workers: int = Field(default=0, ge=0,
                                description="verification processes; 0 = one per core")
    verify_in_process: bool = Field(
        default=False, description="examine PDFs in the serving process (no time or memory "
        "limit; for tests and the CLI)")
    verify_timeout_seconds: float = Field(default=20.0, gt=0, le=600,
                                          description="time limit per verified document")
    verify_memory_mb: int = Field(default=1536, ge=256,
                                  description="address-space limit of a verification worker")
    public_verify_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024,
                                         description="largest upload on the public page")
    public_verify_per_minute: int = Field(default=20, ge=1,
                                          description="public verifications per IP per minute")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @model_validator(mode="after")
    def _production_needs_explicit_secrets(self) -> Settings:
        if self.environment == "production":
            if self.keystore == "software" and self.kek is None and self.kek_file is None:
                raise ValueError(
                    "production needs an explicit key-encryption key: "
                    "set ZHENGYIN_KEK or ZHENGYIN_KEK_FILE"
                )
            if not self.public_base_url.startswith("https://"):
                raise ValueError("production needs an https:// ZHENGYIN_PUBLIC_BASE_URL")
        return self

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Read the settings, turning validation errors into one readable message."""
        from pydantic import ValidationError

        try:
            return cls(**overrides)
        except ValidationError as exc:
            problems = "; ".join(
                f"ZHENGYIN_{'_'.join(str(p) for p in error['loc']).upper()}: {error['msg']}"
                if error["loc"] else error["msg"]
                for error in exc.errors()
            )
            raise SettingsError(f"invalid settings: {problems}") from None

    def base_url_warning(self, *, listening_port: int | None = None,
                         unset_warns: bool = True) -> str | None:
        """Why certificates issued now may point where this service does not answer.

        The base URL is printed into certificates (CRL, OCSP, CA issuers) and QR codes for
        good. Unset, it is the default; on this machine, a port other than the one the
        service listens on (``listening_port``, else ``ZHENGYIN_PORT``) is nobody's. A public
        URL behind a proxy cannot be checked from here and gives no warning.
        """
        if unset_warns and "public_base_url" not in self.model_fields_set:
            return (f"ZHENGYIN_PUBLIC_BASE_URL is not set: certificates and QR codes issued "
                    f"now carry {self.public_base_url} for good (set it to the URL where "
                    f"this service answers)")
        url = urlsplit(self.public_base_url)
        port = listening_port if listening_port is not None else self.port
        try:
            url_port = url.port or (443 if url.scheme == "https" else 80)
        except ValueError:
            return f"ZHENGYIN_PUBLIC_BASE_URL {self.public_base_url} has no usable port"
        if url.hostname in _LOCAL_HOSTS and url_port != port:
            return (f"ZHENGYIN_PUBLIC_BASE_URL is {self.public_base_url} but the service "
                    f"listens on port {port}: certificates and QR codes issued now point "
                    f"where it does not answer")
        return None

    @property
    def is_development(self) -> bool:
        """Development mode creates a KEK and a PKI on first start."""
        return self.environment == "development"

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or SQLite inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'zhengyin.db').resolve()}"

    @property
    def effective_file_store_dir(self) -> Path:
        """Where the content-addressed file store keeps its files."""
        return self.file_store_dir or (self.data_dir / "files")

    @property
    def accepts_dev_holder_tokens(self) -> bool:
        """Whether tokens from ``zhengyin holder token`` are accepted."""
        return self.is_development if self.holder_dev_tokens is None else self.holder_dev_tokens

    @property
    def worker_count(self) -> int:
        """Signing processes: the setting, or one per core."""
        return self.workers or (os.cpu_count() or 1)

    @property
    def verify_worker_count(self) -> int:
        """Verification processes: the setting, or one per core."""
        return self.verify_workers or (os.cpu_count() or 1)

    def key_store_config(self) -> KeyStoreConfig:
        """How to open the key store (picklable, for worker processes too)."""
        pin = self.pkcs11_pin.get_secret_value() if self.pkcs11_pin else None
        if pin is None and self.pkcs11_pin_file is not None:
            pin = self.pkcs11_pin_file.read_text(encoding="utf-8").strip()
        kek_file = self.kek_file
        if kek_file is None and self.kek is None and self.is_development:
            kek_file = self.data_dir / "kek"
        return KeyStoreConfig(
            backend=self.keystore,
            directory=self.data_dir / "keys",
            kek_text=self.kek.get_secret_value() if self.kek else None,
            kek_file=kek_file,
            create_kek_file=self.is_development and self.kek_file is None,
            pkcs11_module=self.pkcs11_module,
            pkcs11_token=self.pkcs11_token,
            pkcs11_pin=pin,
        )
