"""govshare — 政务信息资源共享与开放平台 (see ../docs/architecture.md)."""

__version__ = "0.1.0"
