DROP INDEX `principals_service_name_uq`;--> statement-breakpoint
ALTER TABLE `principals` ADD `name_key` text;--> statement-breakpoint
ALTER TABLE `principals` ADD `search_key` text DEFAULT '' NOT NULL;--> statement-breakpoint
-- Existing rows: SQLite's lower() only folds ASCII; the Worker rewrites both keys in JavaScript whenever it writes a
-- principal (a user's profile refresh, at most an hour after their next call; a service account's next edit).
UPDATE `principals` SET `name_key` = lower(`name`), `search_key` = lower(coalesce(`name`, '') || char(10) || coalesce(`email`, '') || char(10) || coalesce(`subject`, ''));--> statement-breakpoint
CREATE UNIQUE INDEX `principals_service_name_key_uq` ON `principals` (`name_key`) WHERE "principals"."kind" = 'service_account';