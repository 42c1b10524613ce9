"""The conformance scenarios (pytest modules, one or two capabilities each), run by `conformance.runner`."""
