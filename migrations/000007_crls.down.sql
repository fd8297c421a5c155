DROP TABLE crl_dirty;
DROP TABLE crls;
