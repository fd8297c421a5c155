DROP TABLE ocsp_signers;
