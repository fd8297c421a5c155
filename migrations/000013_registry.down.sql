DROP TABLE thing_principals;
DROP TABLE thing_group_members;
DROP TABLE thing_groups;
DROP TABLE things;
DROP TABLE thing_types;
