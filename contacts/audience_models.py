"""Audiences: contact imports (with their staging rows), typed attributes, static lists, segments.

Kept apart from ``contacts.models`` (which imports this module, so Django registers the models
under the ``contacts`` app) because audiences are their own subject: how lists of people come in
(docs/imports.md) and how staff say who a campaign is for (docs/segments.md).
"""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from core.models import AppendOnlyModel

ATTRIBUTE_KEY = RegexValidator(
    r"^[a-z][a-z0-9_]{0,63}$",
    "Use lower-case letters, digits and underscores, starting with a letter (e.g. customer_no).",
)


class AttributeType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Yes/no"


class AttributeDefinition(models.Model):
    """A custom field declared with its type, so imports check its values and segments compare them.

    Values live in ``Contact.attributes`` under ``key``: numbers as JSON numbers, dates as
    ISO ``YYYY-MM-DD`` strings, booleans as JSON true/false, text as strings.
    """

    key = models.CharField(max_length=64, unique=True, validators=[ATTRIBUTE_KEY])
    label = models.CharField(max_length=100, blank=True)
    type = models.CharField(max_length=16, choices=AttributeType.choices, default=AttributeType.TEXT)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["key"]
        verbose_name = "custom field"

    def __str__(self) -> str:
        return self.label or self.key


class ImportKind(models.TextChoices):
    CONTACTS = "contacts", "Contacts (with their consent)"
    SUPPRESSION = "suppression", "Suppression list (numbers never to message)"


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded: map the columns"
    STAGING = "staging", "Checking the rows"
    PREVIEW = "preview", "Ready to confirm"
    APPLYING = "applying", "Applying"
    APPLIED = "applied", "Applied"
    FAILED = "failed", "Failed"
    ABANDONED = "abandoned", "Abandoned: nothing applied"


class ContactImport(models.Model):
    """One uploaded file and what became of it: who, when, the file's hash, mapping, counts.

    ``mapping`` (docs/imports.md) says which column is which field, which columns carry an opt-in
    for which purpose and wording, and when and where the consent was collected. ``counts`` holds
    the preview's numbers (new, updated, unchanged, refused, opt_ins, opt_ins_refused, opt_outs)
    and, once applied, what was written. ``phase``/``progress_done``/``progress_total`` drive the
    progress bar; ``heartbeat_at`` tells a running step from a crashed one.
    """

    kind = models.CharField(max_length=16, choices=ImportKind.choices, default=ImportKind.CONTACTS)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.UPLOADED)
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField("file SHA-256", max_length=64)
    file_size = models.PositiveBigIntegerField()
    file_purged_at = models.DateTimeField(
        null=True, blank=True, help_text="The file's bytes were deleted after the retention period."
    )
    encoding = models.CharField(max_length=32, blank=True, help_text="As detected or chosen (utf-8, cp1252).")
    delimiter = models.CharField(max_length=4, blank=True, help_text="As detected or chosen (, or ;).")
    header = models.JSONField(default=list, blank=True, help_text="The file's column headers, in order.")
    mapping = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    phase = models.CharField(max_length=32, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # Applying goes through the file in chunks of lines: the last line of the last chunk applied.
    # The rows at or before it are applied, but for those refused (contacts.imports.validation).
    applied_through = models.PositiveIntegerField(default=0, editable=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "contact import"
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="import_status_idx")]

    def __str__(self) -> str:
        return f"Import #{self.pk}: {self.file_name}"


class ImportFile(models.Model):
    """The uploaded bytes, in the database so every worker host can read them.

    Deleted after ``CONTACT_IMPORT_FILE_RETENTION_DAYS`` (the import keeps the name and hash, and
    records when the bytes went): the hash proves which file it was only while the file exists.
    """

    contact_import = models.OneToOneField(
        ContactImport, on_delete=models.CASCADE, primary_key=True, related_name="file"
    )
    data = models.BinaryField()

    def __str__(self) -> str:
        return f"File of import #{self.pk}"


class ImportMapping(models.Model):
    """The mapping staff last confirmed for a set of headers, offered again for the same headers."""

    header_key = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the normalised headers.")
    mapping = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Mapping {self.header_key[:12]}"


class ImportRowStatus(models.TextChoices):
    PENDING = "pending", "Not checked yet"
    NEW = "new", "New contact"
    UPDATE = "update", "Updates a contact"
    UNCHANGED = "unchanged", "Unchanged"
    REFUSED = "refused", "Refused"


class ImportRow(models.Model):
    """One data row of an import, staged: parsed values and the verdict (applied once its import's
    ``applied_through`` has passed its line, unless refused).

    Loaded in bulk (COPY on PostgreSQL); validation, duplicate detection, matching and the diff
    against existing contacts are SQL over these rows, and applying reads them. ``raw`` keeps the
    cells as read, so refused rows can be downloaded to fix and upload again. ``match_key`` is the
    number's canonical form (``contacts.phones.match_key``): two rows, or a row and a contact,
    with one key are one person. ``opt_ins`` maps purpose → the row's verdict for its opt-in
    ("record", or the refusal code); ``changes`` maps field → [old, new].

    The two links are not checked by the database (``db_constraint=False``): PostgreSQL checks a
    foreign key once per row written, at commit, and on this table that was one look-up for every
    row staged and every row linked to its new contact (some 3 s of a 100,000-row import). Each
    link is written by the code that holds what it points to: staging writes its own import's id
    under that import's row lock; validation and applying write the id of a contact they have
    just read, locked or inserted in the same transaction. Django still applies ``on_delete``
    (imports are never deleted; a deleted contact's rows are set to null).
    """

    # Indexed by the unique (import, line) below, which begins with it: a second index on it alone
    # would only be one more to write for each staged row.
    contact_import = models.ForeignKey(
        ContactImport, on_delete=models.CASCADE, related_name="rows", db_index=False, db_constraint=False
    )
    line = models.PositiveIntegerField(help_text="Line number in the file (the header is line 1).")
    raw = models.JSONField(default=list)
    phone = models.CharField(max_length=16, blank=True)
    match_key = models.CharField(max_length=16, blank=True)
    other_form = models.CharField(max_length=16, blank=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    language = models.CharField(max_length=8, blank=True)
    country = models.CharField(max_length=2, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    # The contact's zone span (contacts/zones.py) from this row's number and time zone, computed
    # when the number is parsed: applying writes it with the contact, without parsing again.
    zone_earliest = models.CharField(max_length=64, blank=True)
    zone_latest = models.CharField(max_length=64, blank=True)
    tags = models.JSONField(default=list, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    clear = models.JSONField(default=list, blank=True, help_text="Fields a blank cell clears.")
    consent = models.JSONField(default=dict, blank=True, help_text="purpose → opted in (true/false).")
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_at_own = models.BooleanField(default=False, help_text="The date came from the row's own cell.")
    opt_ins = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ImportRowStatus.choices, default=ImportRowStatus.PENDING)
    reason_code = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["contact_import", "line"]
        constraints = [
            models.UniqueConstraint(fields=["contact_import", "line"], name="import_row_line_unique")
        ]
        # No other index: each is written for every row staged and every row linked to its new
        # contact. Validation, applying and the preview's pages read a whole import or a range
        # of its lines, by the unique (import, line); the contact's index (the foreign key's)
        # finds the rows of a contact.

    def __str__(self) -> str:
        return f"Line {self.line}"


class ContactList(models.Model):
    """A fixed set of people: the contacts of an import, or a pasted list of numbers.

    Its members never change once it is made (edit = a new list), so a segment version that names
    it means the same people later. Members are stored as the rows matched then; a member merged
    away since counts as the contact it was merged into.
    """

    name = models.CharField(max_length=200)
    source_import = models.ForeignKey(
        ContactImport, null=True, blank=True, on_delete=models.PROTECT, related_name="lists"
    )
    size = models.PositiveIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "static list"

    def __str__(self) -> str:
        return self.name


class ContactListMember(models.Model):
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="members")
    # A contact deleted (one without a ledger, e.g. typed in by mistake) leaves the list.
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact_list", "contact"], name="contact_list_member_unique")
        ]

    def __str__(self) -> str:
        return f"{self.contact_list}: contact #{self.contact_id}"


class Segment(models.Model):
    """Who a campaign is for, as rules over contacts (docs/segments.md); versioned.

    ``rules`` is the current definition, a tree of all/any/none groups over conditions; every
    change that alters it writes a new ``SegmentVersion`` (``version`` is the latest number), and a
    campaign freezes the version it was approved with.
    """

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    rules = models.JSONField(default=dict)
    version = models.PositiveIntegerField(default=0, editable=False)
    # Versions are kept for good (a campaign may have frozen one), so a segment is never deleted:
    # archived, it leaves the pickers and the contact filter.
    archived = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SegmentVersion(AppendOnlyModel):
    """A segment's rules as they were: append-only, so what a campaign froze is kept."""

    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    rules = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["segment", "-version"]
        constraints = [models.UniqueConstraint(fields=["segment", "version"], name="segment_version_unique")]

    def __str__(self) -> str:
        return f"{self.segment} v{self.version}"


class TestNumber(models.Model):
    """A staff phone that receives campaign test sends: never an audience member, never in a funnel.

    Its contact is an ordinary contact with its own recorded opt-in (the ledger, like anyone
    else's), so a test send goes through the one send path and its consent check. Segments and
    lists never contain it (``contacts.segments``), and Administrators alone add or remove one:
    a test number an Editor could add would be a way round the audience rules.
    Removing it keeps the row (``active`` off) so past test sends still say where they went.
    """

    contact = models.OneToOneField("contacts.Contact", on_delete=models.PROTECT, related_name="test_number")
    label = models.CharField(max_length=100, help_text="Whose phone it is, e.g. “Anna's work phone”.")
    active = models.BooleanField(default=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    added_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["label"]
        verbose_name = "staff test number"

    def __str__(self) -> str:
        return f"{self.label} ({self.contact.phone or self.contact.wa_id})"
