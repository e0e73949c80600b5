"""Every error class of ours answers with one HTTP status, set in api/problems.py alone.

The table is the behaviour before the statuses moved into api/problems.py (issue 15):
routes/seals.py and routes/verify.py used to register theirs when imported. ``HTTP``: a
Starlette HTTPException, whose status travels with it. 500: no problem mapping (internal
errors that never reach a client, or an unexpected failure).
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from collections.abc import Iterator

from fastapi import FastAPI

from zhengyin.api import problems

HTTP = -1
PACKAGES = ("zhengyin",)

STATUS_BEFORE: dict[str, int] = {
    # The root error and the platform base (issue 15 §2): new, a domain error's 400.
    "zhengyin.core.errors.PlatformError": 400,
    "zhengyin.core.errors.ZhengyinError": 400,
    "zhengyin.api.cli.common.CLIInputError": 500,
    "zhengyin.api.cli.common.DataDirectoryMissingError": 500,
    "zhengyin.api.forms.FormEncodingError": HTTP,
    "zhengyin.api.middleware._BodyTooLargeError": HTTP,
    "zhengyin.api.problems.ApiError": 400,
    "zhengyin.api.problems.ForbiddenError": 403,
    "zhengyin.api.problems.NotFoundError": 404,
    "zhengyin.api.problems.PayloadTooLargeError": 413,
    "zhengyin.api.problems.TooManyRequestsError": 429,
    "zhengyin.api.routes.wallet._SignedOutError": 500,
    "zhengyin.api.serving.ServeError": 500,
    "zhengyin.api.settings.SettingsError": 500,
    "zhengyin.registry.statuslists.StatusListNotFoundError": 404,
    "zhengyin.trust.statuslist.StatusListError": 500,
    "zhengyin.keys.errors.InsecureKEKFileError": 503,
    "zhengyin.keys.errors.KEKMismatchError": 503,
    "zhengyin.keys.errors.KEKMissingError": 503,
    "zhengyin.keys.errors.KeyDisabledError": 409,
    "zhengyin.keys.errors.KeyNotFoundError": 404,
    "zhengyin.keys.errors.KeyStoreError": 503,
    "zhengyin.keys.errors.KeyStoreUnavailableError": 503,
    "zhengyin.keys.errors.UnsupportedAlgorithmError": 422,
    "zhengyin.registry.catalogue.TypeDefinitionError": 422,
    "zhengyin.registry.errors.AgentGrantError": 422,
    "zhengyin.registry.errors.ConsentError": 403,
    "zhengyin.registry.errors.FileStoreError": 503,
    "zhengyin.registry.errors.IdempotencyConflictError": 409,
    "zhengyin.registry.errors.IllegalTransitionError": 409,
    "zhengyin.registry.errors.ImportBatchNotFoundError": 404,
    "zhengyin.registry.errors.ImportConflictError": 409,
    "zhengyin.registry.errors.ImportSourceError": 422,
    "zhengyin.registry.errors.InvalidHolderCodeError": 422,
    "zhengyin.registry.errors.InvalidIdentifierError": 422,
    "zhengyin.registry.errors.InvalidSurfaceFieldsError": 422,
    "zhengyin.registry.errors.LicenceNotFoundError": 404,
    "zhengyin.registry.errors.LicenceTypeNotFoundError": 404,
    "zhengyin.registry.errors.NotAllowedToIssueError": 403,
    "zhengyin.registry.errors.NotAnAgentError": 403,
    "zhengyin.registry.errors.RegistryError": 400,
    "zhengyin.registry.imports.rows._RejectedError": 500,
    "zhengyin.registry.imports.write.WriteRefusedError": 500,
    "zhengyin.registry.items.ServiceItemError": 400,
    "zhengyin.registry.items.ServiceItemNotFoundError": 400,
    "zhengyin.registry.receipts.DisplayExpiredError": 500,
    "zhengyin.registry.render.LicenceLayoutError": 400,
    "zhengyin.registry.sealing.NoIssuerSealError": 409,
    "zhengyin.registry.usecopies.LicenceNoLongerValidError": 409,
    "zhengyin.registry.usecopies.UseCopyNotFoundError": 404,
    "zhengyin.signing.pdf.certified.UnrenderableTextError": 400,
    "zhengyin.signing.errors.AnchorNotFoundError": 422,
    "zhengyin.signing.errors.BadImageError": 422,
    "zhengyin.signing.errors.BadPDFError": 422,
    "zhengyin.signing.errors.BoxOutsidePageError": 422,
    "zhengyin.signing.errors.BrokenPDFError": 422,
    "zhengyin.signing.errors.DocumentLockedError": 409,
    "zhengyin.signing.errors.EncryptedPDFError": 422,
    "zhengyin.signing.errors.FieldNotFoundError": 422,
    "zhengyin.signing.errors.NotPDFError": 422,
    "zhengyin.signing.errors.PDFTooLargeError": 413,
    "zhengyin.signing.errors.PageOutOfRangeError": 422,
    "zhengyin.signing.errors.PlacementError": 422,
    "zhengyin.signing.errors.SealError": 422,
    "zhengyin.signing.errors.SealNotAuthorisedError": 404,
    "zhengyin.signing.errors.SealNotFoundError": 404,
    "zhengyin.signing.errors.SealOrganisationError": 422,
    "zhengyin.signing.errors.SealStateError": 409,
    "zhengyin.signing.errors.SealUnusableError": 409,
    "zhengyin.signing.errors.SigningError": 400,
    "zhengyin.signing.errors.StampJobNotFoundError": 404,
    "zhengyin.signing.errors.StampNotPermittedError": 409,
    "zhengyin.signing.errors.StampOptionsError": 422,
    "zhengyin.signing.jobs._LeaseLostError": 500,
    "zhengyin.signing.stamper._ReserveOverflowError": 500,
    "zhengyin.signing.timestamps.TimeStampUnavailableError": 503,
    "zhengyin.trust.anchors.TrustAnchorError": 422,
    "zhengyin.core.db.ReadOnlyScopeError": 500,
    "zhengyin.core.errors.AuditChainBrokenError": 409,
    "zhengyin.core.errors.AuditCheckpointMissingError": 409,
    "zhengyin.core.errors.AuditExportError": 400,
    "zhengyin.core.errors.AuditSignerMissingError": 400,
    "zhengyin.core.errors.AuthenticationError": 401,
    "zhengyin.trust.errors.CertificateNotFoundError": 404,
    "zhengyin.core.errors.ClientNotFoundError": 404,
    "zhengyin.core.errors.ClientStateError": 409,
    "zhengyin.core.errors.ConcurrentChangeError": 409,
    "zhengyin.core.errors.DatabaseSchemaError": 503,
    "zhengyin.core.errors.InvalidCodeError": 422,
    "zhengyin.core.errors.InvalidCreditCodeError": 422,
    "zhengyin.core.errors.InvalidIDNumberError": 422,
    "zhengyin.trust.errors.PKINotInitialisedError": 503,
    "zhengyin.trust.errors.RevocationError": 409,
    "zhengyin.trust.errors.TimeStampError": 400,
    "zhengyin.trust.errors.TrustError": 400,
    "zhengyin.core.jose.JWSError": 500,
    "zhengyin.trust.signerpaths.SignerPathError": 500,
    "zhengyin.trust.tsa._RejectionError": 500,
    "zhengyin.trust.validation._revisionstate.TooComplexError": 500,
    "zhengyin.trust.validation.errors.CheckFailedError": 400,
    "zhengyin.trust.validation.errors.DocumentTooComplexError": 422,
    "zhengyin.trust.validation.errors.DocumentTooLargeError": 413,
    "zhengyin.trust.validation.errors.EncryptedDocumentError": 422,
    "zhengyin.trust.validation.errors.NotAPDFError": 422,
    "zhengyin.trust.validation.errors.NotApplicable": 500,
    "zhengyin.trust.validation.errors.UnsupportedPayloadError": 422,
    "zhengyin.trust.validation.errors.VerificationError": 400,
    "zhengyin.trust.validation.errors.VerifierBusyError": 503,
    "zhengyin.trust.validation.examine._AttributeProblem": 500,
    "zhengyin.trust.validation.examine._Format": 500,
    "zhengyin.trust.validation.layout._Defect": 500,
}


def _modules() -> Iterator[str]:
    for name in PACKAGES:
        yield name
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            if ".migrations" not in info.name and not info.name.endswith("__main__"):
                yield info.name


def _error_classes() -> dict[str, type[BaseException]]:
    for module in _modules():
        importlib.import_module(module)
    found: dict[str, type[BaseException]] = {}
    pending: list[type[BaseException]] = [Exception]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if sub.__module__.split(".")[0] in PACKAGES:
                found[f"{sub.__module__}.{sub.__qualname__}"] = sub
    return found


def _answered_status(app: FastAPI, error: type[BaseException]) -> int:
    for cls in error.__mro__:
        handler = app.exception_handlers.get(cls)
        if handler is None:
            continue
        if handler is problems._domain_handler:
            return problems.status_for(error.__new__(error))
        return HTTP if cls is not Exception else 500
    return 500


def test_every_error_class_answers_with_the_status_it_had() -> None:
    classes = _error_classes()
    app = FastAPI()
    problems.install_problem_handlers(app)
    assert {name: _answered_status(app, cls) for name, cls in classes.items()} \
        == STATUS_BEFORE


def test_importing_the_routes_registers_no_status() -> None:
    code = ("import zhengyin.api.problems as p; before = (dict(p._STATUS), list(p._HANDLED)); "
            "import zhengyin.api.app; assert (dict(p._STATUS), list(p._HANDLED)) == before")
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True)
