"""Order imports (订单导入): ERP history from CSV/XLSX, set-based and resumable."""
