-- Per county and year (issue 15): how many questions to the county are open, confirmed (确认无误) or corrected (更正),
-- and how long the oldest open one has waited. A county-year with no open question has final figures.
with counties as (
    select distinct year, county_code from {{ ref('stg_census_schools') }}
),

v as (
    select * from {{ ref('flag_verification') }}
)

select
    cast(c.year as integer) as year,
    cast(c.county_code as varchar) as county_code,
    cast(count(v.status) filter (where v.status = 'open') as integer) as open_flags,
    cast(count(v.status) filter (where v.status = 'confirmed') as integer) as confirmed_flags,
    cast(count(v.status) filter (where v.status = 'corrected') as integer) as corrected_flags,
    cast(count(distinct v.school_code) filter (where v.status = 'open') as integer) as schools_open,
    cast(min(v.raised_at) filter (where v.status = 'open') as timestamp) as oldest_open_since,
    -- whole days elapsed, not calendar midnights crossed: a question raised at 23:59 has waited 0 days at 00:01
    cast(date_diff('second', min(v.raised_at) filter (where v.status = 'open'), timezone('UTC', now())) // 86400
        as integer) as days_open,
    cast(count(v.status) filter (where v.status = 'open') = 0 as boolean) as settled
from counties c
left join v on v.year = c.year and v.county_code = c.county_code
group by c.year, c.county_code
