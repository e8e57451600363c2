"""From result files to conclusions: checked readers (`readers`), the paper's claims with
intervals (`claims`), the generated results page and README headline (`report`), the
figures (`plots`) and the headless notebook runner (`notebook`)."""
