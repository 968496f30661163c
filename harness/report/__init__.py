"""Reports: merged JUnit XML and the test x kernel summary."""
