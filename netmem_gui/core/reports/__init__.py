"""Analysis and reports: figures, the leak verdict, findings, the text report, comparisons and expectations."""
