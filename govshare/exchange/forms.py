"""Forms of the exchange pages: they carry what the person typed; the actions check it (every problem at once)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from govshare.exchange.models import DataSource


class SourceForm(forms.Form):
    """Register (``code`` shown) or change (``code`` fixed) a front-end database."""

    required_fields = frozenset({"name", "code", "kind", "host", "database", "username"})

    name = forms.CharField(label=_("source name"), required=False, max_length=200)
    code = forms.CharField(label=_("source code"), required=False, max_length=40,
                           help_text=_("Letters, digits, '-', '_' and '.'; unique on the platform; never changes."))
    kind = forms.ChoiceField(label=_("database kind"), required=False,
                             choices=[("", "—"), *DataSource.Kind.choices])
    host = forms.CharField(label=_("host"), required=False, max_length=253,
                           help_text=_("Name or IP address of the front-end database server (not for SQLite)."))
    # numbers as text: the action judges them with the form's other problems (every problem at once)
    port = forms.CharField(label=_("port"), required=False, max_length=10,
                           help_text=_("Empty: 5432 for PostgreSQL, 3306 for MySQL."))
    database = forms.CharField(label=_("database"), required=False, max_length=255,
                               help_text=_("The database name; for SQLite the file's path inside the folder the "
                                           "operator set for SQLite sources."))
    username = forms.CharField(label=_("user name"), required=False, max_length=120,
                               help_text=_("A user with SELECT only: the platform never writes to a source (unless it receives "
                                           "deliveries, below)."))
    password = forms.CharField(label=_("password"), required=False, max_length=200, strip=False,
                               widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                               help_text=_("Stored encrypted and never shown again."))
    tls = forms.ChoiceField(label=_("TLS"), required=False, choices=DataSource.Tls.choices,
                            initial=DataSource.Tls.PREFER)
    tls_ca = forms.CharField(
        label=_("CA certificates (PEM)"), required=False, max_length=64 * 1024, strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono", "spellcheck": "false",
                                     "placeholder": "-----BEGIN CERTIFICATE-----"}),
        help_text=_("Your department's own CA, when the database's certificate comes from it: then only this CA is "
                    "trusted for the source. Needed by the setting that checks the certificate but not the host "
                    "name; empty with the full check: the system's CAs. The certificate, never a key."))
    connect_timeout = forms.CharField(label=_("connect timeout (seconds)"), required=False, max_length=10, initial=10)
    statement_timeout = forms.CharField(label=_("statement timeout (seconds)"), required=False, max_length=10,
                                        initial=600)
    description = forms.CharField(label=_("description"), required=False, max_length=500)
    receives_deliveries = forms.BooleanField(
        label=_("receives deliveries"), required=False,
        help_text=_("Your department's grants over the database-table channel may be delivered into this database: "
                    "govshare creates and writes its own tables in it, so the account needs those privileges."))


    def forget_private_key(self) -> None:
        """A private key pasted by mistake is not written back into the page (the action refused it by name)."""
        from govshare.exchange.engine.tls import looks_like_private_key

        if looks_like_private_key(str(self.data.get("tls_ca", ""))):
            data = self.data.copy()  # type: ignore[attr-defined]  # a QueryDict
            data["tls_ca"] = ""
            self.data = data


class SourceChangeForm(SourceForm):
    required_fields = SourceForm.required_fields - {"code"}
    remove_password = forms.BooleanField(label=_("Remove the stored password"), required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        del self.fields["code"]
        self.fields["password"].help_text = _("Leave empty to keep the stored password.")
