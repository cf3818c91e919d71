-- What changed in the catalog since a reader last looked, so a process can keep its own search index of the listings
-- (crates/search) and still answer as the database would.
--
-- Each listing row carries the id of the transaction that last wrote it (`listing_xid`), and each participant the id
-- of the one that last changed what a listing shows of it (its name or wallet). A reader asks for the rows written by
-- transactions at or after the oldest one still running when it last read (`pg_snapshot_xmin` of that statement's
-- snapshot): every transaction before that had ended by then, so its writes were read then or earlier, and a
-- transaction still running then is read again until it has ended. Nothing is missed, whatever the commit order.

ALTER TABLE market_services ADD COLUMN listing_xid XID8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE market_participants ADD COLUMN listing_xid XID8 NOT NULL DEFAULT pg_current_xact_id();

CREATE FUNCTION market_listing_written() RETURNS TRIGGER
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.listing_xid := pg_current_xact_id();
    RETURN NEW;
END
$$;

CREATE TRIGGER market_services_listing_written BEFORE UPDATE ON market_services
    FOR EACH ROW EXECUTE FUNCTION market_listing_written();
CREATE TRIGGER market_participants_listing_written BEFORE UPDATE OF name, wallet ON market_participants
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.wallet IS DISTINCT FROM NEW.wallet)
    EXECUTE FUNCTION market_listing_written();

CREATE INDEX market_services_by_listing_xid ON market_services (listing_xid);
CREATE INDEX market_participants_by_listing_xid ON market_participants (listing_xid);
