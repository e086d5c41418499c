"""parser: bytes of log files -> column batches of records, through Lark grammars.

The seam (docs/architecture.md): EntryParser(log_format, tz, mtime, context).parse(
data, start_offset, final) -> ParseResult. Formats are .lark files (grammars/README.md).
"""

from .batch import EventColumns, MetricColumns, ParsedBatch, ParseResult, RejectColumns
from .detect import detect_format
from .entry import EntryParser
from .errors import GrammarError, ParserError, UnknownFormatError
from .formats import FormatRegistry, LogFormat, get_format, list_formats, load_user_grammars

__all__ = [
    "EntryParser",
    "ParseResult",
    "ParsedBatch",
    "MetricColumns",
    "EventColumns",
    "RejectColumns",
    "LogFormat",
    "FormatRegistry",
    "get_format",
    "list_formats",
    "load_user_grammars",
    "detect_format",
    "ParserError",
    "UnknownFormatError",
    "GrammarError",
]
