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

from api import problems

HTTP = -1
PACKAGES = ("keys", "trust", "signing", "registry", "api")

STATUS_BEFORE: dict[str, int] = {
    "api.cli.common.CLIInputError": 500,
    "api.cli.common.DataDirectoryMissingError": 500,
    "api.forms.FormEncodingError": HTTP,
    "api.middleware._BodyTooLargeError": HTTP,
    "api.problems.ApiError": 400,
    "api.problems.ForbiddenError": 403,
    "api.problems.NotFoundError": 404,
    "api.problems.PayloadTooLargeError": 413,
    "api.problems.TooManyRequestsError": 429,
    "api.routes.wallet._SignedOutError": 500,
    "api.serving.ServeError": 500,
    "api.settings.SettingsError": 500,
    "registry.statuslists.StatusListNotFoundError": 404,
    "trust.statuslist.StatusListError": 500,
    "keys.errors.InsecureKEKFileError": 503,
    "keys.errors.KEKMismatchError": 503,
    "keys.errors.KEKMissingError": 503,
    "keys.errors.KeyDisabledError": 409,
    "keys.errors.KeyNotFoundError": 404,
    "keys.errors.KeyStoreError": 503,
    "keys.errors.KeyStoreUnavailableError": 503,
    "keys.errors.UnsupportedAlgorithmError": 422,
    "registry.catalogue.TypeDefinitionError": 422,
    "registry.errors.AgentGrantError": 422,
    "registry.errors.ConsentError": 403,
    "registry.errors.FileStoreError": 503,
    "registry.errors.IdempotencyConflictError": 409,
    "registry.errors.IllegalTransitionError": 409,
    "registry.errors.ImportBatchNotFoundError": 404,
    "registry.errors.ImportConflictError": 409,
    "registry.errors.ImportSourceError": 422,
    "registry.errors.InvalidHolderCodeError": 422,
    "registry.errors.InvalidIdentifierError": 422,
    "registry.errors.InvalidSurfaceFieldsError": 422,
    "registry.errors.LicenceNotFoundError": 404,
    "registry.errors.LicenceTypeNotFoundError": 404,
    "registry.errors.NotAllowedToIssueError": 403,
    "registry.errors.NotAnAgentError": 403,
    "registry.errors.RegistryError": 400,
    "registry.importrows._RejectedError": 500,
    "registry.importwrite.WriteRefusedError": 500,
    "registry.items.ServiceItemError": 400,
    "registry.items.ServiceItemNotFoundError": 400,
    "registry.receipts.DisplayExpiredError": 500,
    "registry.render.LicenceLayoutError": 400,
    "registry.sealing.NoIssuerSealError": 409,
    "registry.usecopies.LicenceNoLongerValidError": 409,
    "registry.usecopies.UseCopyNotFoundError": 404,
    "signing.certified.UnrenderableTextError": 400,
    "signing.errors.AnchorNotFoundError": 422,
    "signing.errors.BadImageError": 422,
    "signing.errors.BadPDFError": 422,
    "signing.errors.BoxOutsidePageError": 422,
    "signing.errors.BrokenPDFError": 422,
    "signing.errors.DocumentLockedError": 409,
    "signing.errors.EncryptedPDFError": 422,
    "signing.errors.FieldNotFoundError": 422,
    "signing.errors.NotPDFError": 422,
    "signing.errors.PDFTooLargeError": 413,
    "signing.errors.PageOutOfRangeError": 422,
    "signing.errors.PlacementError": 422,
    "signing.errors.SealError": 422,
    "signing.errors.SealNotAuthorisedError": 404,
    "signing.errors.SealNotFoundError": 404,
    "signing.errors.SealOrganisationError": 422,
    "signing.errors.SealStateError": 409,
    "signing.errors.SealUnusableError": 409,
    "signing.errors.SigningError": 400,
    "signing.errors.StampJobNotFoundError": 404,
    "signing.errors.StampNotPermittedError": 409,
    "signing.errors.StampOptionsError": 422,
    "signing.jobs._LeaseLostError": 500,
    "signing.stamper._ReserveOverflowError": 500,
    "signing.timestamps.TimeStampUnavailableError": 503,
    "trust.anchors.TrustAnchorError": 422,
    "trust.db.ReadOnlyScopeError": 500,
    "trust.errors.AuditChainBrokenError": 409,
    "trust.errors.AuditCheckpointMissingError": 409,
    "trust.errors.AuditExportError": 400,
    "trust.errors.AuditSignerMissingError": 400,
    "trust.errors.AuthenticationError": 401,
    "trust.errors.CertificateNotFoundError": 404,
    "trust.errors.ClientNotFoundError": 404,
    "trust.errors.ClientStateError": 409,
    "trust.errors.ConcurrentChangeError": 409,
    "trust.errors.DatabaseSchemaError": 503,
    "trust.errors.InvalidCodeError": 422,
    "trust.errors.InvalidCreditCodeError": 422,
    "trust.errors.InvalidIDNumberError": 422,
    "trust.errors.PKINotInitialisedError": 503,
    "trust.errors.RevocationError": 409,
    "trust.errors.TimeStampError": 400,
    "trust.errors.TrustError": 400,
    "trust.jws.JWSError": 500,
    "trust.signerpaths.SignerPathError": 500,
    "trust.tsa._RejectionError": 500,
    "trust.validation._revisionstate.TooComplexError": 500,
    "trust.validation.errors.CheckFailedError": 400,
    "trust.validation.errors.DocumentTooComplexError": 422,
    "trust.validation.errors.DocumentTooLargeError": 413,
    "trust.validation.errors.EncryptedDocumentError": 422,
    "trust.validation.errors.NotAPDFError": 422,
    "trust.validation.errors.NotApplicable": 500,
    "trust.validation.errors.UnsupportedPayloadError": 422,
    "trust.validation.errors.VerificationError": 400,
    "trust.validation.errors.VerifierBusyError": 503,
    "trust.validation.examine._AttributeProblem": 500,
    "trust.validation.examine._Format": 500,
    "trust.validation.layout._Defect": 500,
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
    code = ("import api.problems as p; before = (dict(p._STATUS), list(p._HANDLED)); "
            "import api.app; assert (dict(p._STATUS), list(p._HANDLED)) == before")
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True)
