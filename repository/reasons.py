"""The registry of reasons repository's errors carry (``IPDError.reason``).

Every ``reason=`` an error of :mod:`repository` is raised with is a member of :class:`Reason`,
never a free string, so a program can branch on it and the same word means the same problem
everywhere. Values are stable kebab-case words: the server maps some of them to HTTP statuses
(``repository.service.app._STATUSES``) and clients compare the strings, so never change one.
:mod:`harmonise` and :mod:`versions` keep their own registries
(``harmonise.values.reasons``, ``versions.reasons``) and reuse these words where they mean
the same (``empty``, ``damaged``, ``too-large``, ``type``); ``tests/test_reasons.py`` checks
that no value is defined twice and that every member is raised somewhere.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Reason"]


class Reason(StrEnum):
    """Why repository (or a spec file's YAML reader) refused something."""

    # --- files: reading a delivery, a workbook, an archive, a define.xml ---------------
    #: the file does not exist or is not a file
    MISSING = "missing"
    #: the file (or a workbook) is empty: 0 bytes, or no dataset in a delivery
    EMPTY = "empty"
    #: the file is cut short (e.g. a Parquet file without its footer)
    TRUNCATED = "truncated"
    #: the file (or an archive member, a workbook's zip) is damaged and cannot be read
    DAMAGED = "damaged"
    #: a format ipdrepo does not read (declared or detected)
    UNKNOWN_FORMAT = "unknown-format"
    #: the file's name or declared format says one format, its content another
    MISLABELLED = "mislabelled"
    #: the file is larger (or unpacks larger) than ipdrepo reads
    TOO_LARGE = "too-large"
    #: more columns than ipdrepo reads
    TOO_MANY_COLUMNS = "too-many-columns"
    #: an archive or delivery with more files/datasets than allowed
    TOO_MANY_MEMBERS = "too-many-members"
    #: an archive member in a directory or outside the archive
    MEMBER_PATH = "member-path"
    #: a file name that cannot be stored (characters, length)
    BAD_FILE_NAME = "bad-file-name"
    #: text that does not decode in the given or detected encoding
    ENCODING = "encoding"
    #: text mixing UTF-8 with another encoding
    ENCODING_MIXED = "encoding-mixed"
    #: text whose encoding cannot be told (two encodings read differently)
    ENCODING_AMBIGUOUS = "encoding-ambiguous"
    #: a header without data rows
    NO_ROWS = "no-rows"
    #: rows with more or fewer fields than the header
    RAGGED = "ragged"
    #: two columns with the same name
    DUPLICATE_COLUMNS = "duplicate-columns"
    #: data in a column without a name
    UNNAMED_COLUMNS = "unnamed-columns"
    #: no sheet of that name, or several sheets and none chosen
    SHEET = "sheet"
    #: the participant-ID column is not there or cannot be told
    ID_COLUMN = "id-column"
    #: a dataset of a package lacks its key column(s)
    KEY_COLUMN = "key-column"
    #: package datasets clash, or an option names a dataset the delivery does not hold
    DATASET = "dataset"
    #: XML that is not a define.xml (no ODM root, no MetaDataVersion)
    NOT_DEFINE = "not-define"
    #: XML declaring a document type or entities (refused: entity expansion)
    XML_ENTITIES = "xml-entities"
    #: SDTM supplemental qualifiers given twice for one record
    SUPPLEMENTAL_DUPLICATES = "supplemental-duplicates"
    #: SDTM supplemental IDVAR that is not a column of the parent domain
    SUPPLEMENTAL_IDVAR = "supplemental-idvar"
    # --- spec files (YAML) -------------------------------------------------------------
    #: a YAML document nested deeper than spec files ever are
    TOO_DEEP = "too-deep"
    #: a YAML alias that refers to the structure it is in
    RECURSIVE_ALIAS = "recursive-alias"
    #: YAML aliases that would expand to too many nodes
    ALIAS_EXPANSION = "alias-expansion"
    # --- attachments and values --------------------------------------------------------
    #: a file or value of a kind that is not accepted (attachment type, value type)
    TYPE = "type"
    #: an attachment too large or empty
    SIZE = "size"
    # --- store -------------------------------------------------------------------------
    #: a write that conflicts with what the store holds (HTTP 409)
    CONFLICT = "conflict"
    #: an answer to a data query that cannot be recorded (HTTP 422)
    INVALID_ANSWER = "invalid-answer"
    # --- sign-in, accounts and access ----------------------------------------------------
    #: a thing the actor may not see: answered as not found (HTTP 404)
    NOT_VISIBLE = "not-visible"
    #: no API token or session
    NO_CREDENTIALS = "no-credentials"
    #: the credentials file may be read by other users
    OPEN_CREDENTIALS = "open-credentials"
    #: an Authorization header that is not ``Bearer TOKEN``
    BAD_HEADER = "bad-header"
    #: an API token unknown, expired or revoked
    BAD_TOKEN = "bad-token"
    #: wrong user name or password
    BAD_CREDENTIALS = "bad-credentials"
    #: the current password given to change it is wrong
    BAD_PASSWORD = "bad-password"
    #: a wrong or missing one-time (second-factor) code
    BAD_CODE = "bad-code"
    #: too many failed sign-ins (HTTP 429)
    LOCKED = "locked"
    #: a request that changes data without a valid CSRF token
    CSRF = "csrf"
    #: a one-time link used, expired or replaced
    INVALID_LINK = "invalid-link"
    #: a password too weak
    WEAK_PASSWORD = "weak-password"
