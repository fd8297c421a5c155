-- Delta CRLs read certificates_listed_idx and certificates_released_idx now;
-- nothing reads this index, and every certificate written paid for it.
DROP INDEX certificates_changed_idx;
