"""Customer import (批量导入): reading files, guessing the mapping, validating rows, writing chunks, the job."""
