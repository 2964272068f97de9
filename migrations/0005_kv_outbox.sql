CREATE TABLE `kv_outbox` (
	`token_id` text PRIMARY KEY NOT NULL,
	`hash` text NOT NULL,
	`since` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `kv_outbox_since_idx` ON `kv_outbox` (`since`);