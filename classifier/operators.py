"""The operators' web pages (Bahasa Indonesia) and the sign-in shared with the operators' JSON API.

Operators sign in with a form (session cookie, CSRF token on every form) or, for scripts calling the
JSON API, with HTTP basic auth of the same account. Intake X-API-Keys never sign anyone in here.
Failed sign-ins are rate limited per client IP (LAKSA_LOGIN_RATE).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps

from flask import (Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, session,
                   url_for)
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from . import accounts, dashboard, drift, review
from .auth import is_intake
from .db import Operator, utcnow
from .errors import DATABASE_UNREACHABLE, PAGE_ERRORS, ApiError, http_error_headers

login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(get_remote_address)
# Failed sign-ins (form or basic auth) from one IP share one budget; successful ones cost nothing.
auth_limit = limiter.shared_limit(lambda: current_app.config["LAKSA_LOGIN_RATE"], scope="operator-sign-in",
                                  deduct_when=lambda response: response.status_code == 401)


@limiter.request_filter
def _intake_has_no_sign_in() -> bool:
    """Intake calls carry API keys, not passwords: the limiter skips them (and their hot path)."""
    return is_intake(request.path)


pages = Blueprint("operators", __name__, url_prefix="/operator", template_folder="templates")
auth_limit(pages)  # the form and basic auth on any page
login_manager.login_view = "operators.login"
login_manager.login_message = "Silakan masuk untuk membuka halaman ini."
CSP = "default-src 'none'; img-src 'self'; style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"


@dataclass(frozen=True)
class OperatorUser(UserMixin):
    id: int
    username: str
    role: str
    epoch: int

    def get_id(self) -> str:  # what the session cookie holds; see _load_user
        return f"{self.id}:{self.epoch}"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _user(operator: Operator | None) -> OperatorUser | None:
    """The signed-in user of an account; None for no account or one that is switched off."""
    if operator is None or operator.disabled_at is not None:
        return None
    return OperatorUser(operator.id, operator.username, operator.role, operator.session_epoch)


def _unless_database_down(loader):
    """A user loader that, when the database is down, leaves the request signed out and keeps the error
    for `signed_in_operator` to raise. Raised from the loader itself, it came back each time a template
    or an after-request hook asked for the user, even while the error page was being drawn: a 500."""
    @wraps(loader)
    def wrapper(*args):
        try:
            return loader(*args)
        except DATABASE_UNREACHABLE as error:
            g.database_error = error
            return None
    return wrapper


@login_manager.user_loader
@_unless_database_down
def _load_user(user_id: str) -> OperatorUser | None:
    """The cookie's operator while its epoch is theirs: signing out raises the epoch."""
    operator_id, _, epoch = user_id.partition(":")
    if not (operator_id.isdigit() and epoch.isdigit()):
        return None
    with current_app.extensions["laksa_sessions"]() as db:
        user = _user(db.get(Operator, int(operator_id)))
    return user if user is not None and user.epoch == int(epoch) else None


@login_manager.request_loader
@_unless_database_down
def _basic_auth(req) -> OperatorUser | None:
    """HTTP basic auth for scripts; such requests carry no cookie and need no CSRF token."""
    auth = req.authorization
    if auth is None or auth.type != "basic" or not auth.username:
        return None
    user = _user(accounts.authenticate(current_app.extensions["laksa_sessions"], auth.username, auth.password or ""))
    g.operator_via_basic_auth = user is not None
    return user


def signed_in_operator():
    """The request's operator, or the anonymous user; a 503 when the database could not tell."""
    user = current_user._get_current_object()
    if g.get("database_error") is not None:
        raise g.database_error
    return user


def protect_unsafe_methods() -> None:
    """CSRF check for a cookie-authenticated POST (forms send the field, fetch calls the X-CSRFToken header)."""
    if request.method not in ("GET", "HEAD", "OPTIONS") and not g.get("operator_via_basic_auth"):
        csrf.protect()


def admin_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)
    return login_required(wrapper)


def highlight(text: str, reasons: list[str], normalizer) -> Markup:
    """The citizen's text, escaped, with the words whose stems drove the decision wrapped in <mark>.

    Each piece of text is escaped before any markup is added, so the text can never inject HTML.
    """
    unigrams = {r for r in reasons if " " not in r}
    bigrams = {tuple(r.split()) for r in reasons if r.count(" ") == 1}
    words = list(re.finditer(r"\w+", text))
    stems = [normalizer.tokens(word.group()) for word in words]
    marked = [any(s in unigrams for s in word_stems) or any(p in bigrams for p in zip(word_stems, word_stems[1:]))
              for word_stems in stems]
    for i in range(len(words) - 1):  # a bigram reason across two neighbouring words marks both
        if stems[i] and stems[i + 1] and (stems[i][-1], stems[i + 1][0]) in bigrams:
            marked[i] = marked[i + 1] = True
    out, position = [], 0
    for word, mark in zip(words, marked):
        if mark:
            out += [escape(text[position:word.start()]), Markup("<mark>"), escape(word.group()), Markup("</mark>")]
            position = word.end()
    out.append(escape(text[position:]))
    return Markup("").join(out)


def _normalizer():
    """The served model's: it stems as the reasons were stemmed, and its stems are already cached."""
    return current_app.extensions["laksa_models"].current().model.features_.normalizer


def _db():
    return current_app.extensions["laksa_sessions"]


def _registry():
    return current_app.extensions["laksa_registry"]


def _page_number() -> int:
    value = request.args.get("page", "1")
    return min(max(1, int(value)), review.MAX_PAGE) if value.isdecimal() and value.isascii() else 1


@pages.before_request
def _guard():
    operator = signed_in_operator()
    if request.authorization is not None and not operator.is_authenticated:
        # A wrong password is a 401, counted by the sign-in limit; never the login page's redirect.
        raise ApiError(401, "invalid_credentials", "wrong operator name or password",
                       [{"field": "Authorization", "problem": "wrong operator name or password"}])
    protect_unsafe_methods()


@pages.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if current_user.is_authenticated:
        response.headers.setdefault("Cache-Control", "no-store")  # complaint texts stay off shared disks
    return response


@pages.app_template_filter("wib")
def _wib(moment) -> str:
    return review.as_utc(moment).astimezone(review.WIB).strftime("%d-%m-%Y %H:%M") if moment else ""


@pages.app_template_filter("percent")
def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


@pages.app_context_processor
def _globals():
    return {"registry": current_app.extensions.get("laksa_registry")}


# Indonesian wording of the API's refusals, by error code or field.
MESSAGES = {
    "prediction_not_found": "Keluhan tidak ditemukan.",
    "no_change": "Koreksi harus mengubah OPD atau kategori; pakai tombol Konfirmasi bila rute sudah benar.",
    "invalid_date": "Tanggal tidak valid (format TTTT-BB-HH).",
    "range_too_long": "Rentang tanggal dasbor terlalu panjang (paling lama tiga tahun).",
    "invalid_credentials": "Nama pengguna atau kata sandi salah.",
    "operator_not_found": "Akun operator tidak ditemukan.",
    "label_changed": "Operator lain baru saja mengubah rute keluhan ini. Periksa rute dan riwayat terbaru, "
                     "lalu putuskan lagi.",
}
FIELD_MESSAGES = {"reason": "Alasan wajib diisi untuk koreksi (maks. 2000 karakter).",
                  "category": "Pilih kategori yang terdaftar, atau ubah OPD.", "opd": "Pilih OPD yang terdaftar.",
                  "username": "Nama pengguna 1-100 karakter tanpa spasi, dan belum dipakai.",
                  "password": f"Kata sandi minimal {accounts.MIN_PASSWORD_CHARS} karakter dan tidak memuat nama "
                              "pengguna.",
                  "role": "Peran harus operator atau admin.",
                  "active": "Admin aktif terakhir tidak dapat dinonaktifkan."}


def _indonesian(error: ApiError) -> list[str]:
    if isinstance(error, review.ClaimConflict):
        until = error.until.astimezone(review.WIB).strftime("%H:%M")
        return [f"Keluhan ini sedang ditangani oleh {error.operator} sampai {until} WIB."]
    if error.code in MESSAGES:
        return [MESSAGES[error.code]]
    return [FIELD_MESSAGES.get(f["field"], f["problem"]) for f in error.fields or []] or [error.message]


@pages.errorhandler(ApiError)
def _api_error(error: ApiError):
    return render_template("operators/error.html", status=error.status, messages=_indonesian(error)), error.status


@pages.errorhandler(CSRFError)
def _csrf_error(error: CSRFError):
    messages = ["Formulir kedaluwarsa atau tidak sah. Muat ulang halaman lalu coba lagi."]
    return render_template("operators/error.html", status=400, messages=messages), 400


@pages.errorhandler(RateLimitExceeded)
def _too_many(error: RateLimitExceeded):
    message = "Terlalu banyak percobaan masuk. Tunggu sebentar lalu coba lagi."
    return render_template("operators/login.html", error=message, next=""), 429


def _database_unreachable(error: Exception):
    current_app.logger.warning("database unreachable: %s", error)
    return render_template("operators/error.html", status=503,
                           messages=["Basis data sedang tidak dapat dijangkau. Coba lagi sebentar lagi."]), 503


for _kind in DATABASE_UNREACHABLE:
    pages.register_error_handler(_kind, _database_unreachable)


@pages.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    messages = {400: "Permintaan tidak sah.", 403: "Halaman ini hanya untuk admin.", 404: "Halaman tidak ditemukan.",
                405: f"Halaman ini tidak dapat dibuka dengan metode {request.method}.",
                413: "Kiriman terlalu besar."}
    page = render_template("operators/error.html", status=error.code,
                           messages=[messages.get(error.code, error.description)])
    return page, error.code, http_error_headers(error)


@pages.record_once
def _pages_errors_for_unmatched_urls(state) -> None:
    state.app.extensions.setdefault(PAGE_ERRORS, {})[f"{pages.url_prefix}/"] = _http_error


def _safe_next(target: str | None) -> str:
    """Only a local path: an open redirect would let a phishing link borrow our login page. Browsers
    drop tabs and newlines from a URL ("/\t/evil.example" becomes "//evil.example") and read "\\" as
    "/", so a path with any of them, or with other control characters, is refused too."""
    if (target and target.startswith("/") and not target.startswith("//") and target.isprintable()
            and not any(c.isspace() or c == "\\" for c in target)):
        return target
    return url_for("operators.queue")


def _back_to_queue(target: str | None) -> str:
    """The queue page (filters and page number) an operator opened a complaint from, to return to
    after deciding it; any other target, safe or not, is the bare queue."""
    queue, target = url_for("operators.queue"), _safe_next(target)
    return target if target == queue or target.startswith(f"{queue}?") else queue


@pages.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(url_for("operators.queue"))
        return render_template("operators/login.html", next=request.args.get("next", ""))
    operator = accounts.authenticate(_db(), request.form.get("username", "").strip(), request.form.get("password", ""))
    if operator is None:
        return render_template("operators/login.html", error="Nama pengguna atau kata sandi salah.",
                               next=request.form.get("next", "")), 401
    session.clear()  # nothing from before the sign-in carries over
    session.permanent = True  # so that it expires: LAKSA_SESSION_HOURS after the last request
    login_user(_user(operator))
    return redirect(_safe_next(request.form.get("next")))


@pages.post("/logout")
def logout():
    operator_id = current_user.id if current_user.is_authenticated else None
    logout_user()
    session.clear()  # first: this browser is signed out even if the database cannot be told
    if operator_id is not None:
        accounts.end_sign_ins(_db(), operator_id)
    flash("Anda telah keluar.", "info")
    return redirect(url_for("operators.login"))


@pages.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """An operator's own password. The old one first: a browser left signed in must not hand the account
    over. The change ends the account's other sign-ins; this one goes on under the new epoch."""
    if request.method == "GET":
        return _own_account_page()
    form = request.form
    if accounts.authenticate(_db(), current_user.username, form.get("current_password", "")) is None:
        return _own_account_page("Kata sandi lama salah.", 401)  # a 401: guesses count against the sign-in limit
    if form.get("password", "") != form.get("password_again", ""):
        return _own_account_page("Kedua isian kata sandi baru berbeda.", 422)
    try:
        operator = accounts.update_operator(_db(), current_user.username, password=form.get("password", ""),
                                            by=current_user.username)
    except accounts.AccountError as error:
        return _own_account_page(FIELD_MESSAGES[error.field], 422)
    login_user(_user(operator))
    flash("Kata sandi diubah; sesi akun ini di perangkat lain berakhir.", "success")
    return redirect(url_for("operators.account"))


def _own_account_page(error: str | None = None, status: int = 200):
    return render_template("operators/account.html", errors=[error] if error else [],
                           min_chars=accounts.MIN_PASSWORD_CHARS), status


@pages.get("/")
@login_required
def queue():
    args = request.args
    start, end = review.date_range(args.get("from"), args.get("to"))
    opd = args.get("opd") or None
    with _db()() as db:
        page = review.review_queue(db, opd=opd, start=start, end=end, page=_page_number(), per_page=25)
    filters = {k: v for k, v in args.items() if k in ("opd", "from", "to") and v}
    if page.page > page.last:  # an old link, or a queue that got shorter: its last page, not "page 9 of 2"
        return redirect(url_for("operators.queue", page=page.last, **filters))
    # Where a complaint opened from here returns to; none for the bare queue, where it returns anyway.
    back = url_for("operators.queue", **filters, page=page.page) if filters or page.page > 1 else None
    return render_template("operators/queue.html", page=page, filters=filters, back=back)


@pages.post("/complaints/<prediction_id>/claim")
@login_required
def claim(prediction_id: str):
    back = _back_to_queue(request.form.get("back"))
    try:
        review.claim(_db(), prediction_id, current_user.username, current_app.config["LAKSA_CLAIM_SECONDS"])
    except review.ClaimConflict as conflict:
        flash(_indonesian(conflict)[0], "error")
        return redirect(back)
    return redirect(url_for("operators.complaint", prediction_id=prediction_id,
                            back=None if back == url_for("operators.queue") else back))


@pages.get("/complaints/<prediction_id>")
@login_required
def complaint(prediction_id: str, errors: list[str] | None = None, form: dict | None = None, status: int = 200):
    """The complaint page; `decide` renders it again with its errors and the operator's entries.
    `back` is the queue page to return to, checked here too: the page's link shows it."""
    with _db()() as db:
        prediction = review.get_prediction(db, prediction_id)
        decisions = review.history(db, prediction_id)
        held = review.live_claim(db, prediction_id)
    return render_template("operators/complaint.html", p=prediction, decisions=decisions, claim=held,
                           current=review.label_after(prediction, decisions),
                           text=highlight(prediction.text, prediction.reasons, _normalizer()),
                           errors=errors or [], form=form or {},
                           back=_back_to_queue((form or request.args).get("back"))), status


@pages.post("/complaints/<prediction_id>/decide")
@login_required
def decide(prediction_id: str):
    form = request.form
    action = "confirm" if form.get("action") == "confirm" else "override"
    try:
        _, repeat = review.decide(_db(), _registry(), prediction_id, current_user.username, action,
                                  category=_changed(form, "category"), opd=_changed(form, "opd"),
                                  reason=form.get("reason", ""), seen=(form.get("seen_category"), form.get("seen_opd")))
    except ApiError as error:
        if error.status not in (409, 422):
            raise
        return complaint(prediction_id, errors=_indonesian(error), form=form, status=error.status)
    if repeat:  # the form sent again, from the browser's history say
        flash("Keputusan ini sudah tercatat.", "info")
    else:
        flash("Rute dikonfirmasi." if action == "confirm" else "Koreksi tersimpan.", "success")
    return redirect(_back_to_queue(form.get("back")))


def _changed(form, name: str) -> str | None:
    """The label the operator chose for `name`, or None where the form keeps the one shown: a field
    left as it was must not undo what someone else changed meanwhile (after a 409, say)."""
    chosen = form.get(name) or None
    return None if chosen == form.get(f"seen_{name}") else chosen


def _dashboard_range() -> tuple:
    end = review.parse_moment(request.args.get("to"), "to", end=True, days_only=True)
    start = review.parse_moment(request.args.get("from"), "from", days_only=True)
    today = utcnow().astimezone(review.WIB).date()
    end = end or review.parse_moment(today.isoformat(), "to", end=True)
    start = start or end - timedelta(days=30)
    if start >= end:
        raise ApiError(422, "invalid_date", "from must be before to", [{"field": "from", "problem": "after to"}])
    if end - start > MAX_DASHBOARD_SPAN:  # the daily chart has one entry a day
        raise ApiError(422, "range_too_long", f"the dashboard covers at most {MAX_DASHBOARD_SPAN.days} days",
                       [{"field": "from", "problem": f"more than {MAX_DASHBOARD_SPAN.days} days before to"}])
    return start, end


MAX_DASHBOARD_SPAN = timedelta(days=3 * 366)


@pages.get("/dashboard")
@login_required
def dashboard_page():
    start, end = _dashboard_range()
    with _db()() as db:
        figures = dashboard.summary(db, start, end)
    shown = {"from": start.astimezone(review.WIB).date().isoformat(),
             "to": (end.astimezone(review.WIB) - timedelta(days=1)).date().isoformat()}
    return render_template("operators/dashboard.html", figures=figures, charts=dashboard.CHARTS, shown=shown,
                           weeks=drift.served_weeks(current_app), limits=drift.limits(current_app.config))


@pages.get("/dashboard/<name>.svg")
@login_required
def dashboard_chart(name: str):
    if name not in dashboard.CHARTS:
        abort(404)
    start, end = _dashboard_range()
    with _db()() as db:
        figures = dashboard.summary(db, start, end)
    return Response(dashboard.chart_svg(name, figures, _registry()), mimetype="image/svg+xml")


EVENT_NAMES = {"created": "dibuat", "disabled": "dinonaktifkan", "enabled": "diaktifkan", "password": "kata sandi baru"}
ACCOUNT_CHANGES = {"disable": ({"active": False}, "dinonaktifkan"), "enable": ({"active": True}, "diaktifkan"),
                   "password": ({}, "mendapat kata sandi baru")}


@pages.route("/admin/operators", methods=["GET", "POST"])
@admin_required
def admin_operators():
    """The accounts page. Its forms create an account, or (`action`) switch one off or on or give it a new
    password, each of which ends that account's sign-ins."""
    if request.method == "GET":
        return _accounts_page()
    form = request.form
    username, action = form.get("username", "").strip(), form.get("action", "create")
    if action != "create" and action not in ACCOUNT_CHANGES:
        abort(400)
    try:
        if action == "create":
            accounts.create_operator(_db(), username, form.get("password", ""), form.get("role", "operator"),
                                     by=current_user.username)
        else:
            change, _ = ACCOUNT_CHANGES[action]
            changed = accounts.update_operator(_db(), username, **(change or {"password": form.get("password", "")}),
                                               by=current_user.username)
            if changed.id == current_user.id and changed.disabled_at is None:
                login_user(_user(changed))  # an admin's own new password keeps this sign-in, as on /account
    except accounts.UnknownOperator:
        raise ApiError(404, "operator_not_found", f"no operator named {username!r}") from None
    except accounts.AccountError as error:
        return _accounts_page(error)
    done = "dibuat" if action == "create" else f"{ACCOUNT_CHANGES[action][1]}; semua sesinya berakhir"
    flash(f"Akun {username} {done}.", "success")
    return redirect(url_for("operators.admin_operators"))


def _accounts_page(error: accounts.AccountError | None = None):
    errors = [FIELD_MESSAGES.get(error.field, error.problem)] if error else []
    return render_template("operators/admin_operators.html", operators=accounts.list_operators(_db()), errors=errors,
                           roles=accounts.ROLES, events=accounts.recent_events(_db()),
                           event_names=EVENT_NAMES), 422 if error else 200
