DROP TABLE registration_codes;
