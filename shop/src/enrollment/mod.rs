//! Enrollments: which courses a student may watch. Written by checkout (steps 0-3, in the order's
//! transaction) or by the enrollment worker (step 4); read here.

use sqlx::PgPool;

use crate::database::StoreError;
use crate::ids::{CourseId, UserId};

#[derive(Clone)]
pub struct Enrollments {
    pool: PgPool,
}

impl Enrollments {
    pub fn new(pool: PgPool) -> Enrollments {
        Enrollments { pool }
    }

    /// Which of `courses` the student is already enrolled in.
    pub async fn owned_among(
        &self,
        user: UserId,
        courses: &[CourseId],
    ) -> Result<Vec<CourseId>, StoreError> {
        let ids: Vec<i64> = courses.iter().map(|course| course.0).collect();
        Ok(sqlx::query_scalar!(
            r#"SELECT course_id AS "course_id: CourseId" FROM enrollments
               WHERE user_id = $1 AND course_id = ANY($2)"#,
            user.0,
            &ids
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
