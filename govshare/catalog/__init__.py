"""The resource catalog (目录管理系统, CAT-1 … CAT-10)."""
